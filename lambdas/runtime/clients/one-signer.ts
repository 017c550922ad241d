/** What `signWithOneSigner` needs of a client: its resolved SigV4 signer provider. */
export interface SigningClient<Scheme, Signer> {
  readonly config: { signer: (authScheme?: Scheme) => Promise<Signer> };
}

/**
 * Makes a client sign every request with one SigV4 signer instead of a new one per request.
 *
 * Without a `signer` in its configuration, the SDK (v3.1169) builds a new `SignatureV4` for each
 * request from a copy of the whole resolved client configuration: about a tenth of the CPU the
 * SDK spends on a DynamoDB UpdateItem (a stub transport, `bench/sdk-request-cpu.ts`). The signer
 * built for the first request is kept: it holds the same credential provider, region and service
 * a later one would (a client has one region, and these clients one service), and takes the
 * signing date per request, so clock-skew correction is unchanged. A failure to build it is not
 * kept: the next request tries again.
 *
 * Only for clients of one service whose signing does not vary by request (DynamoDB, Kinesis): not
 * for S3, whose signer depends on the bucket (multi-region access points, S3 Express).
 */
export function signWithOneSigner<Scheme, Signer>(client: SigningClient<Scheme, Signer>): void {
  const build = client.config.signer;
  let signer: Promise<Signer> | undefined;
  client.config.signer = (authScheme) => {
    signer ??= build(authScheme).catch((error: unknown) => {
      signer = undefined;
      throw error;
    });
    return signer;
  };
}
