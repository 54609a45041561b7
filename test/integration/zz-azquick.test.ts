import { after, before } from 'node:test';
import { openAzureStore } from '../../src/remote/azure.js';
import { describeBlobStoreContract } from '../contract/blob-store-contract.js';
import { startAzurite, AZURITE_ACCOUNT, AZURITE_KEY, type AzuriteHandle } from '../helpers/azurite.js';
let az: AzuriteHandle;
let n = 0;
const env = { AZURE_STORAGE_ACCOUNT: AZURITE_ACCOUNT, AZURE_STORAGE_KEY: AZURITE_KEY };
before(async () => { az = await startAzurite(); const s = await openAzureStore({ scheme: 'azblob', bucket: 'contract', prefix: '' }, { endpoint: az.endpoint, env }); await s.ensureBucket(); });
after(async () => { await az.stop(); });
describeBlobStoreContract('azurite', {
  make: () => openAzureStore({ scheme: 'azblob', bucket: 'contract', prefix: `t${n++}/` }, { endpoint: az.endpoint, env, listPageSize: 10 }),
  makeMissingBucket: () => openAzureStore({ scheme: 'azblob', bucket: `missing-${n++}`, prefix: '' }, { endpoint: az.endpoint, env }),
});
