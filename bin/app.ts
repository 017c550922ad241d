import { App } from 'aws-cdk-lib';
import { buildApp } from './build-app';

// The CDK app: `npx cdk synth -c architecture=lambda -c views=views.ts` (options in build-app.ts).
buildApp(new App());
