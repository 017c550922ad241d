import { parseArgs } from 'node:util';

export const BATCH_USAGE = `Usage: streamfold batch [--full | --from <time> --to <time>] [--url <api>]

Asks a running streamfold (npm start) to run the batch layer now (POST /admin/batch) and prints
its answer. Without options the run is incremental: only the cells that events arrived since the
last run can change are recomputed.

Options:
  --full           recompute every view over the whole archive
  --from <time>    with --to: also recompute the event-time range [from, to) (a backfill);
  --to <time>      ISO-8601 with a zone, or epoch milliseconds
  --url <api>      the API of the running streamfold          [http://127.0.0.1:3000]
  -h, --help`;

export interface BatchCommand {
  readonly url: string;
  readonly body: { full?: true; from?: string | number; to?: string | number };
}

/** Reads `streamfold batch` options (after the command word). */
export function parseBatchCommand(argv: readonly string[]): BatchCommand | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      full: { type: 'boolean', default: false },
      from: { type: 'string' },
      to: { type: 'string' },
      url: { type: 'string', default: 'http://127.0.0.1:3000' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return 'help';
  if ((values.from === undefined) !== (values.to === undefined))
    throw new Error('--from and --to go together (an event-time range to recompute)');
  const time = (text: string) => (/^\d+$/.test(text) ? Number(text) : text);
  return {
    url: values.url.replace(/\/+$/, ''),
    body: {
      ...(values.full ? { full: true as const } : {}),
      ...(values.from !== undefined ? { from: time(values.from), to: time(values.to!) } : {}),
    },
  };
}

/** Posts the request; resolves with the HTTP status and the answer's text. */
export async function runBatchCommand(command: BatchCommand): Promise<{ status: number; text: string }> {
  const response = await fetch(`${command.url}/admin/batch`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(command.body),
  });
  return { status: response.status, text: await response.text() };
}
