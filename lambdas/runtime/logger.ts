import { Logger } from '@aws-lambda-powertools/logger';
import { SERVICE_NAME } from './service-name';

/**
 * The functions' logger (Powertools for AWS Lambda): one JSON line per entry with level, message,
 * timestamp and service; once a handler calls `logger.addContext(context)`, also the request id,
 * the function's name and version and whether this is a cold start. The level comes from the
 * environment Lambda gives the function (AWS_LAMBDA_LOG_LEVEL with advanced logging controls,
 * or POWERTOOLS_LOG_LEVEL), INFO otherwise: Powertools reads these itself, the one exception to
 * "configuration only through readConfig()".
 */
export const logger = new Logger({ serviceName: SERVICE_NAME });
