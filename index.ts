/**
 * The public API of streamfold: what a views.ts module imports.
 *
 *   import { defineView, count, sum, min, max, avg, distinct } from 'streamfold';
 */
export {
  defineView,
  validateViews,
  ViewDefinitionError,
  count,
  sum,
  min,
  max,
  avg,
  distinct,
} from './lambdas/core/view';
export type { ViewDefinition, ViewInput, MeasureSpec, MeasureKind, FilterValue } from './lambdas/core/view';
export type { Granularity } from './lambdas/core/time';
