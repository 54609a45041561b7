// Types of bench/sdk-loop.mjs (plain JavaScript, so that as a program it needs no TypeScript loader).
import type { S3Client } from '@aws-sdk/client-s3';

/** `[remote key, local file, size]`. */
export type ObjectItem = readonly [string, string, number];
export function openClient(endpoint: string, credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string }): S3Client;
export function putAll(client: S3Client, bucket: string, items: readonly ObjectItem[], n: number): Promise<void>;
export function getAll(client: S3Client, bucket: string, items: readonly ObjectItem[], dir: string, n: number): Promise<void>;
