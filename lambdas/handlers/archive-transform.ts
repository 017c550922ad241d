import type { FirehoseTransformationEvent, FirehoseTransformationResult } from 'aws-lambda';
import { transformFirehoseEvent } from '../adapters/codecs/firehose-transform';
/** Firehose data transformation: normalize each record for the archive, partition by arrival time. */
export const handler = async (event: FirehoseTransformationEvent): Promise<FirehoseTransformationResult> =>
  transformFirehoseEvent(event);
