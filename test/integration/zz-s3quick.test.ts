import { after, before } from 'node:test';
import { openS3Store } from '../../src/remote/s3.js';
import { describeBlobStoreContract } from '../../test/contract/blob-store-contract.js';
import { startS3rver, S3RVER_ENV, type S3rverHandle } from '../../test/helpers/s3rver.js';
let s3: S3rverHandle;
let n = 0;
before(async () => { s3 = await startS3rver(); const st = await openS3Store({scheme:'s3',bucket:'contract',prefix:''}, { endpoint: s3.endpoint, env: S3RVER_ENV }); await st.ensureBucket(); await st.close(); });
after(async () => { await s3.stop(); });
describeBlobStoreContract('s3rver', {
  make: () => openS3Store({ scheme: 's3', bucket: 'contract', prefix: `t${n++}/` }, { endpoint: s3.endpoint, env: S3RVER_ENV, listPageSize: 10 }),
  nonAtomicPuts: 's3rver 3.7.1 writes objects in place (no temp file + rename), so concurrent PUTs interleave; S3 itself is atomic',
  makeMissingBucket: () => openS3Store({ scheme: 's3', bucket: `missing-${n++}`, prefix: '' }, { endpoint: s3.endpoint, env: S3RVER_ENV }),
});
