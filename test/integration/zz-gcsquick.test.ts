import { after, before } from 'node:test';
import { openGcsStore } from '../../src/remote/gcs.js';
import { describeBlobStoreContract } from '../contract/blob-store-contract.js';
import { startGcsFake, type GcsFake } from '../helpers/gcs-fake.js';
let g: GcsFake;
let n = 0;
before(async () => { g = await startGcsFake(); g.createBucket('contract'); });
after(async () => { await g.stop(); });
describeBlobStoreContract('gcs fake', {
  make: () => openGcsStore({ scheme: 'gs', bucket: 'contract', prefix: `t${n++}/` }, { endpoint: g.endpoint, env: {}, listPageSize: 10 }),
  makeMissingBucket: () => openGcsStore({ scheme: 'gs', bucket: `missing-${n++}`, prefix: '' }, { endpoint: g.endpoint, env: {} }),
});
