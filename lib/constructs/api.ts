import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { API_INTEGRATION_TIMEOUT } from './api-timeouts';
import { checkRange } from './validate';

/** Props of ServingApi. */
export interface ServingApiProps {
  /** Handles POST /events. */
  readonly ingestFunction: lambda.IFunction;
  /** Handles GET /views, GET /views/{view}, GET /health and GET /admin/status. */
  readonly queryFunction: lambda.IFunction;
  /**
   * Handles POST /admin/batch (the Lambda architecture's batch layer).
   * @default - no POST /admin/batch
   */
  readonly batchFunction?: lambda.IFunction;
  /**
   * Handles POST /admin/replay and POST /admin/rollback (the Kappa architecture's admin function).
   * @default - no replay or rollback routes
   */
  readonly kappaAdminFunction?: lambda.IFunction;
  /**
   * Serves the dashboard page: GET / and GET /dashboard/{file}, IAM-authorized like every route.
   * @default - no dashboard routes
   */
  readonly dashboardFunction?: lambda.IFunction;
  /**
   * Steady-state requests per second of the stage.
   * @default 1000
   */
  readonly rateLimit?: number;
  /**
   * Burst of requests of the stage.
   * @default 2000
   */
  readonly burstLimit?: number;
  /**
   * Require an API key (with a usage plan) on every method, in addition to IAM authorization.
   * @default false
   */
  readonly apiKeyRequired?: boolean;
}

/** JSON schema of POST /events: one event (flat or CloudEvents) or `{ events: [...] }` with 1 to 500. */
const EVENT_SCHEMA: apigateway.JsonSchema = {
  type: apigateway.JsonSchemaType.OBJECT,
  required: ['type', 'time'],
  properties: {
    type: { type: apigateway.JsonSchemaType.STRING, minLength: 1, maxLength: 256 },
    // Epoch milliseconds or ISO-8601; the handler refuses what the schema cannot tell (seconds given as ms).
    time: { type: [apigateway.JsonSchemaType.STRING, apigateway.JsonSchemaType.NUMBER] },
    id: { type: apigateway.JsonSchemaType.STRING, minLength: 1, maxLength: 256 },
    specversion: { type: apigateway.JsonSchemaType.STRING, enum: ['1.0'] },
    // No `data` here: it is the CloudEvents payload only with `specversion`; a flat event may have
    // a field named data of any type, and the function checks the envelope's (400 either way).
  },
};
const BODY_SCHEMA: apigateway.JsonSchema = {
  schema: apigateway.JsonSchemaVersion.DRAFT4,
  title: 'StreamfoldEvents',
  // anyOf, not oneOf: a flat event may carry a field named `events` of its own (it is one event
  // unless `events` is the body's only member), and such a body matches both shapes.
  anyOf: [
    {
      type: apigateway.JsonSchemaType.OBJECT,
      required: ['events'],
      properties: {
        events: { type: apigateway.JsonSchemaType.ARRAY, minItems: 1, maxItems: 500, items: EVENT_SCHEMA },
      },
    },
    EVENT_SCHEMA,
  ],
};

/**
 * JSON schema of POST /admin/replay: the body the admin function reads (codecs/replay-request.ts),
 * `{views?, from?, to?}` with times as ISO-8601 text or epoch ms; it checks the names and times
 * itself (400 either way). Unknown members are refused here and there.
 */
const REPLAY_SCHEMA: apigateway.JsonSchema = {
  schema: apigateway.JsonSchemaVersion.DRAFT4,
  title: 'StreamfoldReplay',
  type: apigateway.JsonSchemaType.OBJECT,
  additionalProperties: false,
  properties: {
    views: {
      type: apigateway.JsonSchemaType.ARRAY,
      items: { type: apigateway.JsonSchemaType.STRING },
      minItems: 1,
    },
    from: {
      type: [
        apigateway.JsonSchemaType.STRING,
        apigateway.JsonSchemaType.NUMBER,
        apigateway.JsonSchemaType.NULL,
      ],
    },
    to: {
      type: [
        apigateway.JsonSchemaType.STRING,
        apigateway.JsonSchemaType.NUMBER,
        apigateway.JsonSchemaType.NULL,
      ],
    },
  },
};

/**
 * The HTTP API, the same paths as the local gateway: IAM-authorized, schema-validated bodies,
 * validated parameters, explicit stage throttling, access logs and X-Ray tracing.
 */
export class ServingApi extends Construct {
  /** The REST API (stage `v1`). */
  readonly api: apigateway.RestApi;
  /** The stage's access log group. */
  readonly accessLogs: logs.LogGroup;

  constructor(scope: Construct, id: string, props: ServingApiProps) {
    super(scope, id);
    const rateLimit = props.rateLimit ?? 1000;
    const burstLimit = props.burstLimit ?? 2000;
    checkRange('rateLimit', rateLimit, 1, undefined, { unit: 'request per second', integer: false });
    checkRange('burstLimit', burstLimit, 1, undefined);
    this.accessLogs = new logs.LogGroup(this, 'AccessLogs', {
      retention: logs.RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.api = new apigateway.RestApi(this, 'Api', {
      description: 'streamfold: ingest events, query views',
      cloudWatchRole: true,
      deployOptions: {
        stageName: 'v1',
        throttlingRateLimit: rateLimit,
        throttlingBurstLimit: burstLimit,
        tracingEnabled: true,
        loggingLevel: apigateway.MethodLoggingLevel.ERROR,
        dataTraceEnabled: false,
        accessLogDestination: new apigateway.LogGroupLogDestination(this.accessLogs),
        accessLogFormat: apigateway.AccessLogFormat.jsonWithStandardFields(),
      },
      defaultMethodOptions: {
        authorizationType: apigateway.AuthorizationType.IAM,
        apiKeyRequired: props.apiKeyRequired ?? false,
      },
      endpointTypes: [apigateway.EndpointType.REGIONAL],
    });
    const bodyValidator = new apigateway.RequestValidator(this, 'BodyValidator', {
      restApi: this.api,
      validateRequestBody: true,
      validateRequestParameters: true,
    });
    const paramsValidator = new apigateway.RequestValidator(this, 'ParamsValidator', {
      restApi: this.api,
      validateRequestParameters: true,
    });
    const model = this.api.addModel('EventsModel', {
      contentType: 'application/json',
      schema: BODY_SCHEMA,
      description: 'one event or {events: [...]}',
    });
    // API Gateway's own 400s say only "Invalid request body": name the problem, in the handlers' shape.
    // Gateway response templates are plain substitution, not VTL (no $util.escapeJavaScript), and
    // $context.error.validationErrorString holds unescaped quotes: only messageString, which API
    // Gateway documents as already quoted, keeps the body valid JSON.
    // https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-swagger-extensions-gateway-responses.responseTemplates.html
    this.api.addGatewayResponse('BadRequestBody', {
      type: apigateway.ResponseType.BAD_REQUEST_BODY,
      statusCode: '400',
      templates: {
        'application/json': props.kappaAdminFunction
          ? '{"error":"the body does not match the route (POST /events: one event or {\\"events\\": [1 to 500 events]}; POST /admin/replay: {\\"views\\"?, \\"from\\"?, \\"to\\"?})","reason":$context.error.messageString}'
          : '{"error":"the body is not one event or {\\"events\\": [1 to 500 events]}","reason":$context.error.messageString}',
      },
    });
    this.api.addGatewayResponse('BadRequestParameters', {
      type: apigateway.ResponseType.BAD_REQUEST_PARAMETERS,
      statusCode: '400',
      templates: {
        'application/json': '{"error":"invalid request parameters","reason":$context.error.messageString}',
      },
    });
    const integration = (fn: lambda.IFunction) =>
      new apigateway.LambdaIntegration(fn, { proxy: true, timeout: API_INTEGRATION_TIMEOUT });

    // `$default`, not `application/json`: API Gateway validates a body only against the model of
    // its request's content type, and skips validation when none matches ("If no matching content
    // type is found, request validation is not performed",
    // https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-method-request-validation.html),
    // so `curl -d` (form-urlencoded) would have reached the function unchecked.
    this.api.root.addResource('events').addMethod('POST', integration(props.ingestFunction), {
      requestValidator: bodyValidator,
      requestModels: { $default: model },
    });
    const views = this.api.root.addResource('views');
    views.addMethod('GET', integration(props.queryFunction), { requestValidator: paramsValidator });
    const view = views.addResource('{view}');
    view.addMethod('GET', integration(props.queryFunction), {
      requestValidator: paramsValidator,
      requestParameters: { 'method.request.path.view': true },
    });
    // The batch/speed split of an answer: the Lambda architecture's (the one with a batch layer).
    if (props.batchFunction)
      view.addResource('parts').addMethod('GET', integration(props.queryFunction), {
        requestValidator: paramsValidator,
        requestParameters: { 'method.request.path.view': true },
      });
    if (props.dashboardFunction) {
      this.api.root.addMethod('GET', integration(props.dashboardFunction));
      this.api.root
        .addResource('dashboard')
        .addResource('{file}')
        .addMethod('GET', integration(props.dashboardFunction), {
          requestValidator: paramsValidator,
          requestParameters: { 'method.request.path.file': true },
        });
    }
    this.api.root
      .addResource('health')
      .addMethod('GET', integration(props.queryFunction), { requestValidator: paramsValidator });
    const admin = this.api.root.addResource('admin');
    if (props.batchFunction)
      admin
        .addResource('batch')
        .addMethod('POST', integration(props.batchFunction), { requestValidator: paramsValidator });
    admin
      .addResource('status')
      .addMethod('GET', integration(props.queryFunction), { requestValidator: paramsValidator });
    if (props.kappaAdminFunction) {
      const replayModel = this.api.addModel('ReplayModel', {
        contentType: 'application/json',
        schema: REPLAY_SCHEMA,
        description: '{views?: [names], from?: time, to?: time}',
      });
      admin.addResource('replay').addMethod('POST', integration(props.kappaAdminFunction), {
        requestValidator: bodyValidator,
        requestModels: { $default: replayModel },
      });
      admin
        .addResource('rollback')
        .addMethod('POST', integration(props.kappaAdminFunction), { requestValidator: paramsValidator });
    }

    for (const method of this.api.methods) {
      Validations.of(method).acknowledge({
        id: 'AwsSolutions-COG4',
        reason:
          'Every method is authorized with IAM (SigV4): producers and readers are AWS principals, not Cognito users.',
      });
    }
    Validations.of(this.api.deploymentStage).acknowledge({
      id: 'AwsSolutions-APIG3',
      reason:
        'WAF is optional and billed per web ACL; the API is IAM-authorized and throttled. Associate a WAF web ACL with the stage where the deployment needs one.',
    });
    const cloudWatchRole = this.api.node.tryFindChild('CloudWatchRole');
    if (cloudWatchRole) {
      Validations.of(cloudWatchRole).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
        reason:
          "API Gateway's account-level logging role: AWS publishes this managed policy for exactly that purpose.",
      });
    }

    if (props.apiKeyRequired) {
      const plan = this.api.addUsagePlan('UsagePlan', { throttle: { rateLimit, burstLimit } });
      plan.addApiStage({ stage: this.api.deploymentStage });
      plan.addApiKey(this.api.addApiKey('ApiKey'));
    }
  }
}
