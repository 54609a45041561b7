/**
 * The parts of @aws-sdk/client-s3 the S3 store uses, and nothing else. The S3 store loads this
 * module lazily; the CLI bundle builds it from the SDK's ES modules, so only these commands
 * (not the SDK's hundred others) are in the chunk it loads: about 55-75 ms to import here
 * instead of 95-115 ms for the whole client, on the critical path of a run's first remote
 * lookup. `Upload` (multipart) is loaded separately, only for large bodies.
 */
export {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
