#!/usr/bin/env node
// The `streamfold` command (package.json "bin"): runs the TypeScript CLI through tsx.
require('tsx/cjs/api').register();
require('./cli.ts')
  .main()
  .catch((error) => {
    console.error(`streamfold: ${error.stack || error.message}`);
    process.exit(1);
  });
