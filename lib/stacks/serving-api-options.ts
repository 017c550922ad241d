/** What both architectures' stacks take for their API: the same names, defaults and meaning. */
export interface ServingApiOptions {
  /**
   * Require an API key (with a usage plan) besides IAM authorization.
   * @default false
   */
  readonly apiKeyRequired?: boolean;
  /**
   * Serve the dashboard page at GET / of the API (IAM-authorized like every route: open it through
   * a SigV4-signing proxy). Opt-in: context `dashboard=true`.
   * @default false
   */
  readonly dashboard?: boolean;
  /**
   * Steady-state requests per second of the API stage.
   * @default 1000
   */
  readonly apiRateLimit?: number;
  /**
   * Request burst of the API stage.
   * @default 2000
   */
  readonly apiBurstLimit?: number;
  /**
   * Largest request body POST /events accepts (413 above it); at most 3,000,000 bytes, what a
   * synchronous Lambda invocation carries once API Gateway has escaped the body into its event.
   * @default 1048576 (1 MiB)
   */
  readonly ingestMaxBodyBytes?: number;
}
