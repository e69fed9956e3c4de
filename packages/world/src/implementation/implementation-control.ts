/**
 * The world's side of the implementation contract (docs/IMPLEMENTING.md §5): an HTTP server on the
 * simulated network where outside organisation implementations write their domain's TXT records for
 * the registry's domain-control challenge (1) and, optionally, post their journey events as JSON lines.
 * Events are kept per Message-ID for the report and the judge; a cell never needs them.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { JOURNEY_EVENT_SCHEMA, type JourneyEvent } from '@ssmax/sim-org';
import type { DnsZone } from '@ssmax/sim-net';

const MAX_BODY = 4 * 1024 * 1024;
const validEvent = new Ajv2020({ strict: false, validateFormats: false }).compile<JourneyEvent>(JOURNEY_EVENT_SCHEMA);

async function body(req: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > MAX_BODY) return undefined;
    chunks.push(c);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function send(res: ServerResponse, status: number, value?: unknown): void {
  if (value === undefined) res.writeHead(status).end();
  else res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
}

/** The control server: TXT writes into the world's zone, journey events per org. */
export class ImplementationControl {
  readonly #events: JourneyEvent[] = [];
  /** Lines refused (not JSON or not a journey event), for the log. */
  rejectedLines = 0;

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(o: {
    readonly address: string;
    readonly zone: DnsZone;
    readonly orgs: () => readonly { id: string; domain: string }[];
  }): Promise<ImplementationControl> {
    let control!: ImplementationControl;
    const server = createServer((req, res) => {
      void (async () => {
        const path = new URL(req.url ?? '/', 'http://control').pathname;
        const text = await body(req);
        if (text === undefined) return send(res, 413, { error: 'Cannot read the request. It is larger than 4 MiB.' });
        if (path === '/v1/dns/txt' && (req.method === 'POST' || req.method === 'DELETE')) {
          const r = JSON.parse(text) as { name?: unknown; value?: unknown };
          if (typeof r.name !== 'string' || typeof r.value !== 'string')
            return send(res, 400, { error: 'Cannot change the record. name and value must be strings.' });
          const name = r.name.toLowerCase().replace(/\.$/, '');
          // An implementation writes only into its own domain's zone, as its DNS provider's API would allow.
          if (!o.orgs().some((x) => name === x.domain || name.endsWith(`.${x.domain}`)))
            return send(res, 403, { error: `Cannot change ${name}. It is in no outside implementation's domain.` });
          if (req.method === 'POST') o.zone.addTxt(name, r.value);
          else o.zone.remove(name, 'TXT', (v) => (v as string[]).join('') === r.value);
          return send(res, 204);
        }
        if (path === '/v1/journey' && req.method === 'POST') {
          for (const line of text.split('\n')) {
            if (line.trim() === '') continue;
            let e: unknown;
            try {
              e = JSON.parse(line);
            } catch {
              control.rejectedLines++;
              continue;
            }
            if (validEvent(e)) control.#events.push(e);
            else control.rejectedLines++;
          }
          return send(res, 204);
        }
        send(res, 404, { error: `Cannot ${req.method ?? ''} ${path}. No such route.` });
      })().catch((e: unknown) => send(res, 400, { error: `Cannot handle the request. ${(e as Error).message}` }));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, o.address, resolve);
    });
    const a = server.address() as AddressInfo;
    control = new ImplementationControl(server, `http://${a.address}:${a.port}`);
    return control;
  }

  /** The events outside implementations posted for `messageId` (exactly as given, brackets included). */
  events(messageId: string): JourneyEvent[] {
    return this.#events.filter((e) => e.messageId === messageId);
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => this.server.close(() => r()));
    this.server.closeAllConnections();
  }
}
