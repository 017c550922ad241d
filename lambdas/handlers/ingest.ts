import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { KinesisEventStream } from '../adapters/aws/kinesis-event-stream';
import { bodyNotUtf8Answer, jsonResponse, requestBody } from '../adapters/codecs/api-gateway';
import { systemClock } from '../ports/clock';
import { makeKinesisClient } from '../runtime/clients/kinesis';
import { readIngestConfig } from '../runtime/config';
import { ingestEvents } from '../services/ingest-events';

const config = readIngestConfig(process.env);
const deps = {
  views: config.views,
  stream: new KinesisEventStream(makeKinesisClient(config.endpoints), config.streamName),
  clock: systemClock,
  maxBodyBytes: config.maxBodyBytes,
};

/** POST /events: validate all, stamp id and ingestedAt, PutRecords (resending refused entries). */
export const handler = async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
  if (event.httpMethod !== 'POST')
    return jsonResponse(405, { error: `${event.httpMethod} is not allowed on ${event.path}; use POST` });
  const refused = bodyNotUtf8Answer(event);
  if (refused) return refused;
  const result = await ingestEvents(requestBody(event), deps);
  return jsonResponse(result.status, result.body);
};
