import type { HttpResult } from './query-view';

/**
 * The smaller reading of Lambda's "6 MB" for a synchronous invocation's response
 * (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html: "6 MB each for request
 * and response (synchronous)"; https://docs.aws.amazon.com/lambda/latest/dg/API_Invoke.html). A
 * query function's response is API Gateway's proxy result `{statusCode, headers, body}`, whose
 * `body` is the answer's JSON as a JSON string: every `"` and `\` of the answer is escaped again.
 */
export const LAMBDA_RESPONSE_LIMIT_BYTES = 6_000_000;

/**
 * Most bytes one `GET /views` answer may take as the Lambda response carries it (the answer's JSON,
 * escaped as a JSON string), leaving 100,000 bytes of the response for the status and headers. The
 * service enforces it, so the local gateway refuses exactly what the cloud could not deliver (API
 * Gateway would answer a 5xx for a response over Lambda's limit).
 */
export const MAX_ANSWER_BYTES = LAMBDA_RESPONSE_LIMIT_BYTES - 100_000;

/** UTF-8 bytes of `json` once written as a JSON string value (without its two quotes). */
function escapedBytes(json: string): number {
  return Buffer.byteLength(JSON.stringify(json)) - 2;
}

/** A 200 answer of a view: its header fields and its buckets, each with an ISO `start`. */
export interface BucketAnswer {
  readonly buckets: readonly { readonly start: string }[];
  readonly [field: string]: unknown;
}

/** A bucket's JSON text: `JSON.stringify`, or a memo of it for buckets answered before. */
export type BucketJson = (bucket: BucketAnswer['buckets'][number]) => string;

const stringify: BucketJson = (bucket) => JSON.stringify(bucket);

/**
 * `answer` as a 200, or, when it would not fit in {@link MAX_ANSWER_BYTES}, a 400 that says how to
 * page it: `narrowTo` is the start of the first bucket that does not fit, so `[from, narrowTo)` fits
 * and the next request starts at `from=narrowTo`. Buckets are never cut, as for the bucket limit.
 *
 * The JSON is `JSON.stringify(answer)`, with `buckets` last, joined from each bucket's text:
 * `bucketJson` may hand out texts it kept (a warm query function's unchanged buckets), which
 * spares serializing a day of buckets on every GET.
 */
export function boundedAnswer(answer: BucketAnswer, bucketJson: BucketJson = stringify): HttpResult {
  const { buckets, ...header } = answer;
  const texts = buckets.map(bucketJson);
  const empty = JSON.stringify({ ...header, buckets: [] });
  // `{...header,"buckets":[]}`: the bucket texts go between the two brackets.
  const json = `${empty.slice(0, -2)}${texts.join(',')}]}`;
  const bytes = Buffer.byteLength(json);
  // Escaping at most doubles a byte (`"` -> `\"`): most answers need no second pass.
  if (2 * bytes <= MAX_ANSWER_BYTES || escapedBytes(json) <= MAX_ANSWER_BYTES)
    return { status: 200, body: answer, json };
  // The buckets' bytes add up: `{...header,"buckets":[` + bucket (`,` bucket)* + `]}`.
  let used = escapedBytes(empty);
  let fit = 0;
  for (const text of texts) {
    const next = used + escapedBytes(text) + (fit > 0 ? 1 : 0);
    if (next > MAX_ANSWER_BYTES) break;
    used = next;
    fit++;
  }
  const narrowTo = buckets[fit]?.start ?? null;
  const total = escapedBytes(json);
  return {
    status: 400,
    body: {
      error: 'answer too large',
      problems: [
        {
          field: 'to',
          message:
            fit > 0
              ? `the answer's ${buckets.length} buckets take ${total} bytes, more than the ${MAX_ANSWER_BYTES} one answer may carry (a Lambda response through API Gateway holds at most 6 MB); ask for to=${narrowTo} (the first ${fit} buckets), then continue with from=${narrowTo}`
              : `one bucket of this answer alone takes more than the ${MAX_ANSWER_BYTES} bytes one answer may carry; split the view`,
        },
      ],
      answerBytes: total,
      maxAnswerBytes: MAX_ANSWER_BYTES,
      narrowTo: fit > 0 ? narrowTo : null,
    },
  };
}
