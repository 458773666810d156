#!/usr/bin/env node
// replaced by the CLI branch
export {};
