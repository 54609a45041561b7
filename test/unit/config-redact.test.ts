import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultConfig } from '../../src/config/load.js';
import { redactSecrets, redactUrl } from '../../src/config/redact.js';
import type { Config } from '../../src/config/schema.js';

describe('redactUrl', () => {
  it('hides user info and credential query parameters', () => {
    assert.equal(redactUrl('s3://AKIA:SECRET@bucket/prefix'), 's3://***@bucket/prefix');
    assert.equal(redactUrl('https://acct.blob.core.windows.net/c?sv=2020&sig=abc%2Bdef&se=x'), 'https://acct.blob.core.windows.net/c?sv=2020&sig=***&se=x');
    assert.equal(redactUrl('https://h/x?X-Amz-Credential=a&X-Amz-Signature=b&token=c&page=2'), 'https://h/x?X-Amz-Credential=***&X-Amz-Signature=***&token=***&page=2');
  });

  it('hides the secret path of Slack and Discord webhooks', () => {
    assert.equal(redactUrl('https://hooks.slack.com/services/T0/B0/XYZ'), 'https://hooks.slack.com/services/***');
    assert.equal(redactUrl('https://discord.com/api/webhooks/123/tok'), 'https://discord.com/api/webhooks/***');
  });

  it('leaves URLs without credentials and non-URLs exactly as written', () => {
    assert.equal(redactUrl('s3://bucket/prefix'), 's3://bucket/prefix');
    assert.equal(redactUrl('/var/cache/reprovm'), '/var/cache/reprovm');
    assert.equal(redactUrl('https://EXAMPLE.com/A'), 'https://EXAMPLE.com/A');
  });
});

describe('redactSecrets', () => {
  const base = defaultConfig();
  const config = {
    ...base,
    notifications: { ...base.notifications, webhook_secret: 'CANARY-hmac', webhook_url: 'https://hooks.example/CANARY-path' },
    token: [{ name: 'ci', role: 'run', sha256: 'CANARYsha' }],
  } as Config;

  it('replaces every configured secret and URL credential in text', () => {
    const text = 'posting to https://hooks.example/CANARY-path with CANARY-hmac (token CANARYsha) via https://u:p@host/x';
    const out = redactSecrets(text, config);
    assert.doesNotMatch(out, /CANARY|u:p@/);
    assert.equal(out, 'posting to *** with *** (token ***) via https://***@host/x');
  });

  it('finds secrets inside JSON-escaped text', () => {
    const tricky = { ...config, notifications: { ...config.notifications, webhook_secret: 'CANARY"quoted\\' } } as Config;
    const out = redactSecrets(JSON.stringify({ msg: 'key CANARY"quoted\\' }), tricky);
    assert.doesNotMatch(out, /CANARY/);
  });
});
