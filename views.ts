import { avg, count, defineView, distinct, max, min, sum } from 'streamfold';

/**
 * The views this deployment serves. `npm start` and `cdk deploy` both read this file
 * (override with `--views <file>` locally or `-c views=<file>` for the CDK app).
 */
export default [
  // Clickstream: page views per page and minute, with revenue and unique visitors.
  defineView({
    name: 'page_views',
    eventType: 'page.view',
    key: ['page'],
    granularity: '1m',
    measures: {
      views: count(),
      revenue: sum('amount'),
      visitors: distinct('userId'),
      slowest: max('latencyMs'),
      avgLatency: avg('latencyMs'),
    },
  }),
  // IoT: readings per device and 5 minutes.
  defineView({
    name: 'sensor_readings',
    eventType: 'sensor.reading',
    key: ['deviceId'],
    granularity: '5m',
    measures: {
      readings: count(),
      minTemp: min('temperature'),
      maxTemp: max('temperature'),
      avgTemp: avg('temperature'),
    },
  }),
];
