import type { FirehoseTransformationEvent, FirehoseTransformationResult } from 'aws-lambda';
import { transformFirehoseEvent } from '../adapters/codecs/firehose-transform';
import { readArchiveTransformConfig } from '../runtime/config';

const config = readArchiveTransformConfig(process.env);

/** Firehose data transformation: normalize each record for the archive, partition by arrival time. */
export const handler = async (event: FirehoseTransformationEvent): Promise<FirehoseTransformationResult> =>
  transformFirehoseEvent(event, config.views);
