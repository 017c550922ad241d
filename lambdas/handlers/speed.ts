// Placeholder so the CDK constructs can reference the entry; the real handler lands with issue 3.
export const handler = async (): Promise<never> => {
  throw new Error('speed handler is not implemented yet');
};
