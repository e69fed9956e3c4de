/**
 * A raw TCP client for the server targets: what the server sent, whether it closed, and a bounded wait for either.
 * SMTP and HTTP cases speak through it so that bytes no well-behaved client would send reach the server as written.
 */
import { connect, type Socket } from 'node:net';

export class RawConnection {
  readonly chunks: Buffer[] = [];
  closed = false;
  #wake: (() => void) | undefined;

  private constructor(readonly socket: Socket) {
    socket.on('data', (c: Buffer) => {
      this.chunks.push(c);
      this.#wake?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.#wake?.();
    });
    socket.on('error', () => undefined);
  }

  /** Connects within `timeoutMs`, or rejects. */
  static open(to: { host: string; port: number; localAddress?: string }, timeoutMs: number): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect(to);
      const timer = setTimeout(() => (socket.destroy(), reject(new Error('connect timeout'))), timeoutMs);
      socket.once('connect', () => (clearTimeout(timer), resolve(new RawConnection(socket))));
      socket.once('error', (e) => (clearTimeout(timer), reject(e)));
    });
  }

  get bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }

  get text(): string {
    return this.bytes.toString('latin1');
  }

  /** Waits until `done()` or the connection closes, at most `ms`; true when it came in time. */
  async until(done: () => boolean, ms: number): Promise<boolean> {
    const end = performance.now() + ms;
    while (!done() && !this.closed) {
      const left = end - performance.now();
      if (left <= 0) return false;
      await new Promise<void>((r) => {
        const t = setTimeout(() => ((this.#wake = undefined), r()), left);
        this.#wake = () => ((this.#wake = undefined), clearTimeout(t), r());
      });
    }
    return true;
  }

  write(b: Uint8Array): void {
    if (!this.socket.destroyed) this.socket.write(b);
  }
}
