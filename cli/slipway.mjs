#!/usr/bin/env node
// The package's `slipway` bin: runs the TypeScript CLI through tsx, as `npm start` does with
// `node --import tsx`. Paths resolve from this file, so it works from any directory.
import { URL } from 'node:url';
import 'tsx';

await import(new URL('./main.ts', import.meta.url).href);
