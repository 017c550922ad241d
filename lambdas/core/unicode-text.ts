// An unpaired UTF-16 surrogate: valid in a JavaScript string (and as a JSON escape), not Unicode text.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Whether `text` holds an unpaired UTF-16 surrogate (such as "\ud800"), which UTF-8 cannot carry. */
export function hasLoneSurrogate(text: string): boolean {
  return LONE_SURROGATE.test(text);
}
