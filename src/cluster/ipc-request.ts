/**
 * The one request/response pattern over the cluster IPC channel: a request gets a fresh `seq`,
 * the answer repeats it, and the wait is bounded. An answer that comes after its request gave
 * up goes to `onLate` (a grant nobody waits for must be given back).
 */
export class IpcRequests<Answer> {
  private seq = 0;
  private readonly waiting = new Map<number, (answer: Answer | null) => void>();

  constructor(
    private readonly timeoutMs: number,
    private readonly onLate: (answer: Answer) => void = () => undefined,
  ) {}

  /**
   * Sends with `send(seq)` (false: the channel is gone) and resolves with the answer, or with
   * null when it could not be sent or none came within the wait.
   */
  request(send: (seq: number) => boolean, timeoutMs = this.timeoutMs): Promise<Answer | null> {
    return new Promise((resolve) => {
      const seq = ++this.seq;
      const timer = setTimeout(() => settle(null), timeoutMs);
      const settle = (answer: Answer | null): void => {
        clearTimeout(timer);
        this.waiting.delete(seq);
        resolve(answer);
      };
      this.waiting.set(seq, settle);
      if (!send(seq)) settle(null);
    });
  }

  /** The answer to request `seq`. */
  answer(seq: number, answer: Answer): void {
    const settle = this.waiting.get(seq);
    if (settle) settle(answer);
    else this.onLate(answer);
  }

  /** Requests still waiting. */
  get pending(): number {
    return this.waiting.size;
  }
}
