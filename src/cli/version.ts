// Replaced at bundle time with package.json's version (see scripts/build.mjs).
declare const REPROVM_VERSION: string | undefined;

export const VERSION: string = typeof REPROVM_VERSION === 'string' ? REPROVM_VERSION : '0.0.0-dev';
