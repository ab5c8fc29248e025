// A forked helper process of the bench (the targets, or a load client), spoken to over IPC one
// request at a time.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const workers = new Set<BenchWorker>();

export class BenchWorker {
  private readonly waiters: Array<(message: unknown) => void> = [];
  private exited = false;

  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
  ) {
    child.on('message', (message) => {
      const waiter = this.waiters.shift();
      waiter?.(message);
    });
    child.once('exit', () => {
      this.exited = true;
      workers.delete(this);
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** Forks dist/bench/<script>.js and waits for its first message (started/listening). */
  static async start<T>(script: string, name: string): Promise<{ worker: BenchWorker; hello: T }> {
    const path = fileURLToPath(new URL(`./${script}.js`, import.meta.url));
    const child = fork(path, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] });
    const worker = new BenchWorker(name, child);
    workers.add(worker);
    const hello = await worker.next<T>(10_000);
    return { worker, hello };
  }

  /** Waits for the next message from the worker, or fails after timeoutMs. */
  next<T>(timeoutMs: number): Promise<T> {
    return new Promise((resolve, reject) => {
      if (this.exited) {
        reject(new Error(`${this.name} has exited`));
        return;
      }
      const onExit = (): void => {
        clearTimeout(timer);
        reject(new Error(`${this.name} exited during a request`));
      };
      const waiter = (message: unknown): void => {
        clearTimeout(timer);
        this.child.off('exit', onExit);
        resolve(message as T);
      };
      const timer = setTimeout(() => {
        const index = this.waiters.indexOf(waiter);
        if (index >= 0) this.waiters.splice(index, 1);
        this.child.off('exit', onExit);
        reject(new Error(`${this.name} did not answer within ${Math.round(timeoutMs / 1000)} s`));
      }, timeoutMs);
      this.waiters.push(waiter);
      this.child.once('exit', onExit);
    });
  }

  /** Sends a message that gets no answer. */
  post(message: object): void {
    if (!this.exited) this.child.send(message);
  }

  /** Sends a request and waits for its answer. */
  request<T>(message: object, timeoutMs: number): Promise<T> {
    const answer = this.next<T>(timeoutMs);
    this.post(message);
    return answer;
  }

  kill(): void {
    if (!this.exited) this.child.kill('SIGKILL');
    workers.delete(this);
  }
}

export function killAllWorkers(): void {
  for (const worker of workers) worker.kill();
}
