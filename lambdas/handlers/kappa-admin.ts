/**
 * STUB, not the real handler: a placeholder so the Kappa stack synthesizes and bundles on the
 * kappa-cdk branch. The real `lambdas/handlers/kappa-admin.ts` comes from the handlers' branch and
 * replaces this file on merge. Deployed as is, every invocation fails.
 */
export const handler = async (_event: unknown): Promise<never> => {
  throw new Error('not implemented in this branch');
};
