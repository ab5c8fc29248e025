import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IpcRequests } from '../../../src/cluster/ipc-request.js';

describe('IpcRequests: one request/response over IPC', () => {
  it('resolves each request with the answer carrying its seq, in any order', async () => {
    const requests = new IpcRequests<string>(1_000);
    const sent: number[] = [];
    const a = requests.request((seq) => sent.push(seq) > 0);
    const b = requests.request((seq) => sent.push(seq) > 0);
    assert.notEqual(sent[0], sent[1]);
    requests.answer(sent[1]!, 'second');
    requests.answer(sent[0]!, 'first');
    assert.deepEqual(await Promise.all([a, b]), ['first', 'second']);
    assert.equal(requests.pending, 0);
  });

  it('answers null at once when the channel is gone, and after the wait when nobody answers', async () => {
    const requests = new IpcRequests<string>(20);
    assert.equal(await requests.request(() => false), null);
    const started = Date.now();
    assert.equal(await requests.request(() => true), null);
    assert.ok(Date.now() - started >= 15);
    assert.equal(requests.pending, 0);
  });

  it('hands an answer that comes after the wait to onLate, once', async () => {
    const late: string[] = [];
    const requests = new IpcRequests<string>(10, (answer) => late.push(answer));
    let seq = 0;
    assert.equal(await requests.request((s) => ((seq = s), true)), null);
    requests.answer(seq, 'granted late');
    assert.deepEqual(late, ['granted late']);
  });
});
