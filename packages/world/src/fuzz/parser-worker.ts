/**
 * Worker-thread entry that runs the in-process targets (parser-targets.ts): it builds the corpus once, opens the
 * target it is told to, and runs the cases it is asked for, one message per case. A worker rather than the main
 * thread so that a parser that loops forever, recurses past the stack or eats the heap (resourceLimits) takes only
 * the worker down: the runner sees the silence or the exit, counts a hang or a crash, and starts a new one.
 *
 * Before each case the input goes into the shared buffer `current` (index, length, bytes), so the runner can
 * keep the input of a case that never returned.
 */
import { getHeapStatistics } from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';
import { buildCorpus } from './corpus.js';
import { caseStream } from './case-stream.js';
import { CaseProbe, HANG_MS, classifyError, type CaseResult } from './outcome.js';
import { CURRENT_INPUT_BYTES, type FromWorker, type ParserWorkerData, type ToWorker } from './parser-protocol.js';
import { PARSER_TARGETS, type FuzzInput, type OpenTarget } from './parser-targets.js';

const port = parentPort!;
const data = workerData as ParserWorkerData;
const header = new Int32Array(data.current, 0, 2);
const inputView = new Uint8Array(data.current, 8, CURRENT_INPUT_BYTES);
const send = (m: FromWorker) => port.postMessage(m);

const started = performance.now();
const corpus = await buildCorpus(data.host);
send({ type: 'ready', corpusMs: Math.round(performance.now() - started) });

let open: OpenTarget | undefined;
let stream: Generator<{ index: number; value: FuzzInput }> | undefined;
let from = data.from;

/** One timed run of the target's entry points on `bytes`. */
async function timed(bytes: Uint8Array, input: FuzzInput): Promise<CaseResult> {
  const probe = new CaseProbe();
  const t0 = performance.now();
  try {
    await open!.run(bytes, input, probe);
    const ms = performance.now() - t0;
    return { outcome: ms > HANG_MS ? 'hang' : probe.typedSeen ? 'typed' : 'ok', ms, reached: [...probe.reached] };
  } catch (e) {
    const ms = performance.now() - t0;
    const c = classifyError(e);
    const errorType = c.typed ? undefined : c.errorType;
    return {
      outcome: ms > HANG_MS ? 'hang' : c.typed ? 'typed' : 'untyped',
      ms,
      reached: [...probe.reached],
      ...(errorType !== undefined ? { errorType } : {}),
      detail: e instanceof Error ? `${e.message}${e.stack ? ` @ ${e.stack.split('\n').slice(1, 4).join(' | ').trim()}` : ''}` : String(e),
    };
  }
}

async function runCase(index: number, input: FuzzInput): Promise<void> {
  let bytes: Uint8Array;
  try {
    bytes = await open!.prepare(input);
  } catch {
    // The corpus signer refused to sign: not an entry point's outcome, so the raw case runs instead.
    bytes = input.bytes;
  }
  header[0] = index;
  header[1] = Math.min(bytes.length, CURRENT_INPUT_BYTES);
  inputView.set(bytes.subarray(0, CURRENT_INPUT_BYTES));
  let result = await timed(bytes, input);
  if (result.outcome === 'hang') {
    // A load spike on a shared machine can stretch any call past 2 s: a hang counts only when it happens again.
    const again = await timed(bytes, input);
    result =
      again.outcome === 'hang'
        ? { ...again, detail: `over ${HANG_MS} ms twice (${Math.round(result.ms)} and ${Math.round(again.ms)} ms)` }
        : { ...again, retriedAfterMs: result.ms };
  }
  const failed = result.outcome !== 'ok' && result.outcome !== 'typed';
  send({ type: 'case', index, result, ...(failed ? { input: bytes } : {}) });
}

port.on('message', (m: ToWorker) => {
  void (async () => {
    if (m.type === 'target') {
      await open?.close();
      const target = PARSER_TARGETS.find((t) => t.name === m.name);
      if (!target) throw new Error(`Cannot open fuzz target ${m.name}. No such parser target.`);
      open = await target.open(corpus);
      stream = caseStream(open.cases, data.seed, m.name, from);
      send({ type: 'opened', name: m.name, from });
      from = 0;
    } else if (m.type === 'run') {
      for (let k = 0; k < m.count; k++) {
        const next = stream!.next();
        if (next.done) break;
        await runCase(next.value.index, next.value.value);
      }
      send({ type: 'chunk', heapMb: Math.round(getHeapStatistics().used_heap_size / 1048576) });
    } else {
      await open?.close();
      port.close();
    }
  })().catch((e: unknown) =>
    send({ type: 'harness-error', message: e instanceof Error ? `${e.message} @ ${e.stack?.split('\n')[1]?.trim() ?? ''}` : String(e) }),
  );
});
