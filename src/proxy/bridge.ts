import type net from 'node:net';
import type { WebSocket } from 'ws';
import type { WireMode } from '../admission/handshake.js';
import type { SessionObserver } from './session-observer.js';
import { attachClientFrameReader, type ClientDataSink, type ClientFrameReader } from './client-frame-reader.js';
import { countTurnBytes, currentTurn, lightSessionActive, type TurnAccount } from './fair-turns.js';
import type { MemoryBudget } from './memory-budget.js';
import { EarnedThreshold, provenBytes } from './earned-threshold.js';
import { smallBinaryFrame } from './small-frame.js';
import { BULK_READ_SIZE, deliverReads, READ_SIZE, recycleChunk, setBulkReads, useSharedReads, type ChunkSink } from './read-buffer.js';
import { settleWriteStateShape } from './write-state-shape.js';

type ClosedBy = 'client' | 'target' | 'server';

export interface BridgeEnd {
  closeCode: number;
  closedBy: ClosedBy;
}

/** What the bridge needs from its session; the session itself, so a bridge adds no objects. */
export interface BridgeHost {
  readonly mode: WireMode;
  readonly observer: SessionObserver | null;
  onProtocolError(message: string): void;
  onTargetError(message: string): void;
  /** A client message stayed unfinished past --message-timeout; the bridge closes 1008. */
  onMessageTimeout(seconds: number): void;
  /** Both sides are closed. Called once. */
  onBridgeEnd(end: BridgeEnd): void;
}

const BINARY = { binary: true } as const;
/** Below this a turn's first write is not corked (interactive traffic); above, batches pay off. */
const STRAIGHT_WRITE_BYTES = 16 * 1024;
const TEXT = { binary: false } as const;
/** The least pause threshold at which a direction's source reads in bulk: four of its reads. */
const BULK_READS_MIN_LIMIT = 4 * BULK_READ_SIZE;

/** Close codes ws sends for its receive-side errors (ws lib/receiver.js error codes). */
const WS_ERROR_CLOSE_CODES: Record<string, number> = {
  WS_ERR_UNSUPPORTED_MESSAGE_LENGTH: 1009,
  WS_ERR_INVALID_UTF8: 1007,
};

/**
 * Moves bytes both ways between one WebSocket and one target socket, in order, without loss
 * or duplication, with memory bounded on both sides:
 *   client -> target: when the target holds the pause threshold in unsent bytes, pause the
 *   WebSocket until 'drain';
 *   target -> client: when ws.bufferedAmount passes the pause threshold, pause the target and
 *   resume from the callback of the send that crossed it (called once those bytes are flushed).
 * The threshold of each direction starts at --initial-buffer-size and rises to --buffer-size once its reader has
 * shown it takes bytes (earned-threshold.ts); the process's --memory-budget caps it for every
 * session as it fills (memory-budget.ts). A paused side reports what it holds to the budget and
 * gives it back when it resumes.
 * Closing follows the reference: the target ending yields 1000 "Target closed" after every byte
 * it sent; a client close is echoed by ws, then queued bytes are flushed to the target and the
 * target is closed.
 */
const kBridge = Symbol('wsfy.bridge');
interface Carrier {
  [kBridge]: Bridge;
}
function bridgeOf(emitter: unknown): Bridge {
  return (emitter as Carrier)[kBridge];
}
function wsOnMessage(this: WebSocket, data: Buffer, isBinary: boolean): void {
  bridgeOf(this).onClientMessage(data, isBinary);
}
function wsOnClose(this: WebSocket, code: number): void {
  bridgeOf(this).onClientClose(code);
}
function wsOnError(this: WebSocket, err: Error & { code?: string }): void {
  bridgeOf(this).onClientError(err);
}
function clientSocketOnData(this: net.Socket): void {
  bridgeOf(this).onClientChunk();
}
function messageOverdue(bridge: Bridge): void {
  bridge.onMessageOverdue();
}
function targetOnData(this: net.Socket, chunk: Buffer): void {
  bridgeOf(this).onTargetData(chunk);
}
function targetOnDrain(this: net.Socket): void {
  bridgeOf(this).onTargetDrain();
}
function targetOnEnd(this: net.Socket): void {
  bridgeOf(this).onTargetEnd();
}
function targetOnError(this: net.Socket, err: Error): void {
  bridgeOf(this).onTargetError(err);
}
function targetOnClose(this: net.Socket): void {
  bridgeOf(this).onTargetClose();
}

/** ws 8 keeps its socket in `_socket`. */
function clientSocketOf(ws: WebSocket): net.Socket | undefined {
  return (ws as unknown as { _socket?: net.Socket })._socket;
}

/** ws 8's 'data' listener on its socket (lib/websocket.js), which onSocketChunk stands in for. */
const WS_DATA_LISTENER = 'socketOnData';

/** The ws 8 Receiver fields that show a message in assembly (lib/receiver.js). */
interface WsAssembly {
  /** Bytes read but not yet parsed: a partial header or frame payload. */
  _bufferedBytes: number;
  /** Payloads of the frames of a fragmented message so far. */
  _fragments: Buffer[];
}

/**
 * Hands a corked socket's batch so far to the kernel, and says what the socket still holds in
 * user space; used where a pause threshold of one read or less (--initial-buffer-size, 64 KiB,
 * until the reader has proved itself: earned-threshold.ts) is crossed. Every read crosses such a
 * threshold, and the batch is that one read, so waiting for the turn's check phase gains
 * nothing: the read goes out now, and the source is paused only if the kernel did not take it
 * all. Pausing at every crossing cost each 64 KiB read a pause and a restart of the source's
 * reads (two epoll_ctl) and a turn of the loop (docs/performance.md, "The proof phase of a
 * session"). The socket stays corked for the rest of the turn, and the bound is unchanged: what
 * a paused source leaves held is at most the threshold and one read. Above one read a crossing
 * still pauses at once: there the batch of several reads is what makes a bulk transfer cheap.
 */
function flushBatch(socket: net.Socket, corked: boolean): number {
  if (corked) {
    socket.uncork();
    socket.cork();
  }
  return socket.writableLength;
}

function uncorkTarget(bridge: Bridge): void {
  bridge.targetCorked = false;
  bridge.uncork();
}

function uncorkClient(bridge: Bridge, socket: net.Socket): void {
  bridge.clientCorked = false;
  socket.uncork();
  bridge.endTurn();
}

export class Bridge implements ClientDataSink, TurnAccount, ChunkSink {
  /** Payload bytes up (client -> target) and down (target -> client); see SessionSummary. */
  upBytes = 0;
  downBytes = 0;

  private clientClosed = false;
  private targetClosed = false;
  private clientPaused = false;
  private initiated: { code: number; by: ClosedBy } | null = null;
  private clientCloseCode = 1006;
  private flushTimer: NodeJS.Timeout | null = null;
  /** The target is corked until the end of this event-loop turn (see onClientData). */
  targetCorked = false;
  /** The client's socket is corked until the end of this event-loop turn (see onTargetData). */
  clientCorked = false;
  /** The last turn in which bytes were written to the target / the client (see onClientData). */
  private targetWriteTurn = -1;
  private clientWriteTurn = -1;
  /** @internal TurnAccount (fair-turns.ts): this session's share of the current turn. */
  turnSeen = -1;
  /** @internal TurnAccount */
  turnBytes = 0;
  /** @internal TurnAccount */
  heavyTurn = -1;
  /** The target is paused until the end of this turn, to let a light session go first. */
  private pausedForTurn = false;
  /** Bytes queued down (towards the client) / up (towards the target) that this session reported to the budget. */
  private downHeld = 0;
  private upHeld = 0;
  /** ws's receiver, watched for an unfinished message when ws assembles messages. */
  private receiver: WsAssembly | null = null;
  /** The frame reader in front of ws's receiver, when the client's reads come straight here (onSocketChunk). */
  private clientFrames: ClientFrameReader | null = null;
  private messageTimer: NodeJS.Timeout | null = null;
  /** Made on the first send that crosses the high-water mark; most sessions never need it. */
  private flushedCallback: (() => void) | null = null;
  /** Pause thresholds down (towards the client) and up (towards the target), earned by each reader. */
  private readonly downThreshold: EarnedThreshold;
  private readonly upThreshold: EarnedThreshold;
  /**
   * A read written at once to the client, all of it taken by the kernel, is held by nothing
   * here (no observer, no base64 copy, no TLS layer over the socket), so its buffer can take the
   * next read of a socket (read-buffer.ts, recycleChunk). The same for the whole session.
   */
  private readonly givesReadsBack: boolean;
  /** Whether the target, and the client, read in bulk now (readsInBulk). */
  private targetReadsInBulk = false;
  private clientReadsInBulk = false;

  constructor(
    private readonly ws: WebSocket,
    private readonly target: net.Socket,
    private readonly host: BridgeHost,
    /** Sets the bytes queued towards either side before the other side is paused. */
    private readonly budget: MemoryBudget,
    /** On a client-side close: how long queued bytes may take to reach the target. */
    private readonly flushMs: number,
    /** How long a message ws assembles may stay unfinished (--message-timeout); 0 = no deadline. */
    private readonly messageTimeoutMs = 0,
  ) {
    // Listeners are shared module functions that find the bridge on the emitter (as ws does),
    // not per-session closures: an idle session keeps nine fewer function objects alive.
    this.downThreshold = new EarnedThreshold(budget.start, budget.highWater, provenBytes());
    this.upThreshold = new EarnedThreshold(budget.start, budget.highWater, provenBytes());
    (ws as unknown as Carrier)[kBridge] = this;
    (target as unknown as Carrier)[kBridge] = this;
    // Both sockets read into the shared buffer (read-buffer.ts): the client's and a reverse
    // target's were accepted by a server, which cannot be given `onread`; a dialled target has it
    // already.
    const clientSocket = clientSocketOf(ws);
    if (clientSocket !== undefined) {
      useSharedReads(clientSocket);
      settleWriteStateShape(clientSocket);
    }
    this.givesReadsBack =
      clientSocket !== undefined && host.mode !== 'base64' && host.observer === null && (clientSocket as { encrypted?: boolean }).encrypted !== true;
    useSharedReads(target);
    settleWriteStateShape(target);
    ws.on('message', wsOnMessage);
    ws.on('close', wsOnClose);
    ws.on('error', wsOnError);
    target.on('drain', targetOnDrain);
    target.on('end', targetOnEnd);
    target.on('error', targetOnError);
    target.on('close', targetOnClose);
    // The target's reads come straight to onSocketChunk, not through its readable side
    // (read-buffer.ts), where it reads into the shared buffer; a TLS target still emits 'data'.
    if (!deliverReads(target, this)) target.on('data', targetOnData);
    // Binary data frames skip ws's message assembly (client-frame-reader.ts); recording and
    // --traffic see whole messages, so they keep ws's path.
    const reader = host.mode === 'binary' && host.observer?.onClientMessage === undefined ? attachClientFrameReader(ws, this) : null;
    // The client's reads, too, come straight to onSocketChunk, rather than through its readable
    // side and ws's 'data' listener, which onSocketChunk stands in for. Where ws's listener is not
    // found by name (another ws), or the socket keeps Node's reads (TLS), ws's path stays.
    const wsDataListener = clientSocket?.listeners('data').find((listener) => listener.name === WS_DATA_LISTENER) as ((chunk: Buffer) => void) | undefined;
    if (reader !== null && clientSocket !== undefined && wsDataListener !== undefined) {
      this.clientFrames = reader;
      // ws's listener goes first: deliverReads hands over what the readable side holds by
      // reading it, and each read() also emits 'data'.
      clientSocket.removeListener('data', wsDataListener);
      if (!deliverReads(clientSocket, this)) {
        this.clientFrames = null;
        clientSocket.on('data', wsDataListener);
      }
    }
    // The frame reader streams payload as it comes; ws instead holds a message until its last
    // byte (up to --max-message-size), so without the reader an unfinished message gets a deadline.
    if (reader === null && messageTimeoutMs > 0) {
      const receiver = (ws as unknown as { _receiver?: WsAssembly })._receiver;
      if (clientSocket !== undefined && receiver !== undefined && Array.isArray(receiver._fragments) && typeof receiver._bufferedBytes === 'number') {
        this.receiver = receiver;
        (clientSocket as unknown as Carrier)[kBridge] = this;
        // Added after ws's own listener, so the receiver has taken the chunk when this runs.
        clientSocket.on('data', clientSocketOnData);
      }
    }
    if (ws.readyState !== ws.OPEN) this.onClientClose(1006);
  }

  /** Server-initiated close (shutdown, heartbeat timeout): queued bytes get `flushMs`. */
  close(code: number, reason: string, flushMs: number): void {
    this.initiate(code, reason, 'server');
    this.endTarget(flushMs);
    setTimeout(() => {
      this.ws.terminate();
      this.target.destroy();
    }, flushMs).unref();
  }

  /** Ends the write batch started by the first client bytes of a turn. */
  uncork(): void {
    this.target.uncork();
  }

  /** Drop the client without a close frame (dead peer). */
  terminate(): void {
    if (!this.initiated) this.initiated = { code: 1006, by: 'server' };
    this.ws.terminate();
  }

  /** Bytes a client sent before the bridge existed (while the target was being dialled). */
  replay(data: Buffer, isBinary: boolean): void {
    this.onClientMessage(data, isBinary);
  }

  /**
   * A chunk read from one of the two sockets (read-buffer.ts deliverReads). The client's goes to
   * the frame reader in front of ws's receiver, as ws's own 'data' listener hands it on: a full
   * receiver pauses the socket until it drains. This skips, per read, the readable side's push,
   * its 'data' event and its read-more tick (docs/performance.md, "Reads handed straight to the
   * bridge"). A client socket that closes while paused hands what it held here before ws's
   * 'close' listener runs, as ws would have read it from the readable side (read-buffer.ts).
   */
  onSocketChunk(socket: net.Socket, chunk: Buffer): void {
    if (socket === this.target) this.onTargetData(chunk);
    else if (!this.clientFrames!.write(chunk)) socket.pause();
  }

  /** A chunk from the client went through ws: start the deadline if a message is left unfinished. */
  onClientChunk(): void {
    if (this.messageTimer === null && this.messageUnfinished()) {
      this.messageTimer = setTimeout(messageOverdue, this.messageTimeoutMs, this);
      this.messageTimer.unref();
    }
  }

  onMessageOverdue(): void {
    this.messageTimer = null;
    if (!this.messageUnfinished() || this.initiated || this.clientClosed) return;
    this.host.onMessageTimeout(this.messageTimeoutMs / 1000);
    this.initiate(1008, 'Message not completed in time', 'server');
  }

  private messageUnfinished(): boolean {
    const receiver = this.receiver;
    return receiver !== null && (receiver._bufferedBytes > 0 || receiver._fragments.length > 0);
  }

  onClientMessage(data: Buffer, isBinary: boolean): void {
    if (this.messageTimer !== null) {
      // The deadline is per message: the next one starts its own on its first unfinished chunk.
      clearTimeout(this.messageTimer);
      this.messageTimer = null;
    }
    if (this.target.writableEnded) return;
    let bytes = data;
    if (this.host.mode === 'base64') {
      if (isBinary) {
        this.initiate(1003, 'Unsupported: Binary frames are not supported in base64 mode', 'server');
        return;
      }
      bytes = Buffer.from(data.toString('latin1'), 'base64');
    } else if (!isBinary) {
      // The reference closes 1003 on text frames in binary mode; so do we (RFC 6455 §7.4.1).
      this.initiate(1003, 'Unsupported: Text frames are not supported', 'server');
      return;
    }
    if (bytes.length > 0) this.host.observer?.onClientMessage?.(bytes);
    this.onClientData(bytes);
  }

  /**
   * Client payload bytes for the target, from ws's messages or straight from the frame reader.
   * Everything that arrives in one turn of the event loop goes out in one writev: the target is
   * corked on the first piece and uncorked in the turn's check phase (setImmediate), after libuv
   * has done every read that was ready (up to 32 of 64 KiB per socket). Measured (`up`, 2 GiB,
   * `perf stat` on the proxy): uncorking per read (nextTick) cost 0.99 ms/MiB at ~950 MiB/s, per
   * turn 0.72-0.81 ms/MiB at 1,120-1,280 MiB/s; 100 small messages likewise cost one write.
   *
   * Backpressure: write() says false past Node's 16 KiB high-water mark, which a corked batch
   * always passes, so the client is paused only once the target holds --buffer-size unsent
   * bytes (the same bound as the other direction); 'drain' resumes it.
   */
  onClientData(bytes: Buffer): void {
    if (this.target.writableEnded) return;
    this.upBytes += bytes.length;
    if (bytes.length === 0) return;
    countTurnBytes(this, bytes.length);
    const target = this.target;
    // A small first write of a turn goes straight out: a console's keystroke or an echo is the
    // only write of its turn, and corking it cost a timer object, a writev and a loop phase of
    // delay. Bulk reads (and a second write in the same turn) start a batch as before.
    const turn = currentTurn();
    if (this.targetWriteTurn !== turn && bytes.length < STRAIGHT_WRITE_BYTES) this.targetWriteTurn = turn;
    else if (!this.targetCorked) {
      this.targetCorked = true;
      target.cork();
      setImmediate(uncorkTarget, this);
    }
    // write() says false (and so 'drain' will come) past Node's 16 KiB mark; only then may we pause.
    const full = !target.write(bytes);
    const limit = Math.min(this.upThreshold.limit, this.budget.pauseAt);
    if (full && !this.clientPaused && target.writableLength >= limit && (limit > READ_SIZE || flushBatch(target, this.targetCorked) > 0)) {
      this.clientPaused = true;
      this.upThreshold.paused(performance.now());
      this.upHeld = target.writableLength;
      this.budget.hold(this.upHeld);
      this.ws.pause();
    }
  }

  onTargetDrain(): void {
    if (this.clientPaused) {
      this.clientPaused = false;
      // 'drain': every byte the client sent is with the kernel.
      this.upThreshold.resumed(this.upBytes, performance.now());
      this.budget.release(this.upHeld);
      this.upHeld = 0;
      this.ws.resume();
    } else {
      // Not paused (a target that keeps up): its drains prove it all the same.
      this.upThreshold.drained(this.upBytes);
    }
    // Read by the socket's next full read, which comes in a later poll phase: after the resume is in time.
    this.setClientReadSize();
  }

  /** The client's socket reads in bulk as readsInBulk says. */
  private setClientReadSize(): void {
    const bulk = this.readsInBulk(this.upThreshold);
    if (bulk === this.clientReadsInBulk) return;
    this.clientReadsInBulk = bulk;
    const socket = clientSocketOf(this.ws);
    if (socket !== undefined) setBulkReads(socket, bulk);
  }

  /**
   * A direction's source reads in bulk (read-buffer.ts) while its pause threshold, under the
   * memory budget's cap, holds several bulk reads: a proven reader at the default --buffer-size,
   * not one still proving itself at --initial-buffer-size, so a stalled reader's session holds
   * what it did. Decided when a pause ends, as the threshold is.
   */
  private readsInBulk(threshold: EarnedThreshold): boolean {
    return Math.min(threshold.limit, this.budget.pauseAt) >= BULK_READS_MIN_LIMIT;
  }

  /**
   * The target reads in bulk as readsInBulk says, except while it yields to a light session
   * (fair-turns.ts): a read lands whole even when the session is paused for its turn, so the
   * turn a console waits behind stays at about TURN_BUDGET and one 64 KiB read.
   */
  private setTargetReadSize(): void {
    const bulk = this.readsInBulk(this.downThreshold) && !lightSessionActive();
    if (bulk === this.targetReadsInBulk) return;
    this.targetReadsInBulk = bulk;
    setBulkReads(this.target, bulk);
  }

  onTargetData(chunk: Buffer): void {
    this.downBytes += chunk.length;
    this.host.observer?.onTargetData?.(chunk);
    const ws = this.ws;
    if (ws.readyState !== ws.OPEN) return;
    const base64 = this.host.mode === 'base64';
    const payload = base64 ? chunk.toString('base64') : chunk;
    // As for the target (onClientData): libuv reads a busy target up to 32 times per turn, and
    // each read is one frame; corking the client's socket until the turn's check phase sends them
    // in one writev. Measured (`down`, 3 alternating runs): 750-1,085 MiB/s at 0.79-1.32 ms/MiB
    // with a writev per frame, 1,248-1,330 MiB/s at 0.68-0.71 ms/MiB with one per turn. Frames
    // keep their order and the close frame queues behind them; ws's end() flushes the cork.
    // ws keeps its socket in `_socket` (ws 8); without it, frames simply go out one by one.
    // As above, a small first frame of a turn goes straight out; a batch starts otherwise.
    const turn = currentTurn();
    const straight = this.clientWriteTurn !== turn && chunk.length < STRAIGHT_WRITE_BYTES;
    if (straight) this.clientWriteTurn = turn;
    else if (!this.clientCorked) {
      const socket = clientSocketOf(ws);
      if (socket !== undefined) {
        this.clientCorked = true;
        socket.cork();
        setImmediate(uncorkClient, this, socket);
      }
    }
    // Fair turns (fair-turns.ts): a heavy session yields to a light one until the check phase.
    // Only while the uncork is pending: it is what resumes a target paused for its turn.
    if (countTurnBytes(this, chunk.length) && this.clientCorked && !this.pausedForTurn && lightSessionActive()) {
      this.pausedForTurn = true;
      this.target.pause();
    }
    const limit = Math.min(this.downThreshold.limit, this.budget.pauseAt);
    if (ws.bufferedAmount + chunk.length >= limit) {
      ws.send(payload, base64 ? TEXT : BINARY, (this.flushedCallback ??= () => this.onClientFlushed()));
      const socket = clientSocketOf(ws);
      const writtenNow = socket !== undefined && limit <= READ_SIZE;
      if (writtenNow) flushBatch(socket, this.clientCorked);
      const held = ws.bufferedAmount;
      if (held > 0) {
        this.target.pause();
        this.downThreshold.paused(performance.now());
        // Reported once per pause (a second crossing before the flush only adds its growth).
        if (held > this.downHeld) {
          this.budget.hold(held - this.downHeld);
          this.downHeld = held;
        }
      } else if (writtenNow && this.givesReadsBack) {
        recycleChunk(chunk);
      }
    } else if (straight && !base64) {
      // One write of header and payload (small-frame.ts); ws's bufferedAmount counts it, as it
      // counts everything in the socket's buffer.
      const socket = clientSocketOf(ws);
      if (socket !== undefined) socket.write(smallBinaryFrame(chunk));
      else ws.send(chunk, BINARY);
    } else {
      ws.send(payload, base64 ? TEXT : BINARY);
    }
  }

  /** The turn's check phase: a target paused for its budget reads again (unless backpressured). */
  endTurn(): void {
    if (!this.pausedForTurn) return;
    this.pausedForTurn = false;
    this.setTargetReadSize();
    // Resumed unless a crossing send will resume it once flushed: a backlog that is over the
    // threshold only because the budget lowered it has no such send, and the next read pauses
    // the target again with one.
    if (!this.targetClosed && this.downHeld === 0) this.target.resume();
  }

  onClientFlushed(): void {
    // The crossing send is flushed, and every byte before it.
    this.downThreshold.resumed(this.downBytes, performance.now());
    this.releaseClientHold();
    this.setTargetReadSize();
    // A target paused for its turn (fair turns) reads again at the turn's end (endTurn), not
    // here: a crossing send the kernel took at once is flushed in the middle of the turn.
    if (!this.targetClosed && !this.pausedForTurn) this.target.resume();
  }

  private releaseClientHold(): void {
    if (this.downHeld === 0) return;
    this.budget.release(this.downHeld);
    this.downHeld = 0;
  }

  onTargetEnd(): void {
    this.initiate(1000, 'Target closed', 'target');
  }

  onTargetError(err: Error): void {
    this.host.onTargetError((err as NodeJS.ErrnoException).code ?? err.message);
    this.initiate(1011, 'Target connection error', 'target');
  }

  onTargetClose(): void {
    this.targetClosed = true;
    // A target that vanished without FIN or error (destroyed by us) still ends the session.
    if (!this.clientClosed) this.initiate(1000, 'Target closed', 'target');
    this.maybeFinish();
  }

  onClientError(err: Error & { code?: string }): void {
    const code = (err.code !== undefined ? WS_ERROR_CLOSE_CODES[err.code] : undefined) ?? 1002;
    if (!this.initiated) this.initiated = { code, by: 'client' };
    this.host.onProtocolError(err.message);
  }

  onClientClose(code: number): void {
    if (this.clientClosed) return;
    this.clientClosed = true;
    this.clientCloseCode = code;
    this.endTarget(this.flushMs);
    this.maybeFinish();
  }

  private initiate(code: number, reason: string, by: ClosedBy): void {
    if (this.initiated || this.clientClosed) return;
    this.initiated = { code, by };
    const ws = this.ws;
    if (ws.readyState === ws.OPEN) ws.close(code, reason);
    if (by !== 'target') this.endTarget(this.flushMs);
  }

  /** Flush what the client sent, then close the target; destroy it if it will not take the bytes. */
  private endTarget(flushMs: number): void {
    if (this.targetClosed || this.flushTimer) return;
    this.target.end();
    this.flushTimer = setTimeout(() => this.target.destroy(), flushMs);
    this.flushTimer.unref();
  }

  private maybeFinish(): void {
    if (!this.clientClosed || !this.targetClosed) return;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    if (this.messageTimer) clearTimeout(this.messageTimer);
    // Both sockets are gone, and what they queued with them.
    this.releaseClientHold();
    if (this.upHeld > 0) {
      this.budget.release(this.upHeld);
      this.upHeld = 0;
    }
    const end: BridgeEnd = this.initiated
      ? { closeCode: this.initiated.code, closedBy: this.initiated.by }
      : { closeCode: this.clientCloseCode, closedBy: 'client' };
    this.host.onBridgeEnd(end);
  }
}
