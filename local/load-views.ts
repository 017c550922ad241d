import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { validateViews, type ViewDefinition } from '../lambdas/core/view';

/**
 * Loads a views module (.ts or .js) and validates it. The module default-exports an array of
 * defineView(...) results (a named export `views` works too).
 */
export function loadViews(file: string): ViewDefinition[] {
  const full = path.resolve(file);
  if (!existsSync(full))
    throw new Error(`views file ${full} does not exist; pass --views <file> (a .ts or .js module)`);
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a user's module, named at run time
  const mod = require(full) as unknown;
  // ES module default export, a named `views` export, or a CommonJS module.exports = [...].
  const exported = mod as { default?: unknown; views?: unknown };
  const views = Array.isArray(mod) ? mod : (exported.default ?? exported.views);
  if (views === undefined)
    throw new Error(`views file ${full} must default-export an array of defineView(...) results`);
  return validateViews(views);
}
