import { describe, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { parse } from 'yaml';

const ROOT = join(import.meta.dirname, '../..');
// Slack's published manifest schema (MIT, see test/fixtures/slack/LICENSE.manifest-schema).
const SCHEMA = join(ROOT, 'test/fixtures/slack/manifest.schema.1.0.0.json');
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

describe('manifest.yml', () => {
  const manifest = parse(readFileSync(join(ROOT, 'manifest.yml'), 'utf8')) as Record<string, any>;

  test("validates against Slack's manifest schema", () => {
    const ajv = new Ajv({ allErrors: true, strict: false });
    addFormats(ajv);
    const validate = ajv.compile(JSON.parse(readFileSync(SCHEMA, 'utf8')));
    const ok = validate(manifest);
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
  });

  test('the schema check can fail: a manifest with a wrong type is refused', () => {
    const ajv = new Ajv({ allErrors: true, strict: false });
    addFormats(ajv);
    const validate = ajv.compile(JSON.parse(readFileSync(SCHEMA, 'utf8')));
    expect(validate({ ...manifest, display_information: { name: 42 } })).toBe(false);
  });

  test('asks for what an approval bot needs: scopes, interactivity, the command, App Home', () => {
    expect(manifest.oauth_config.scopes.bot).toEqual(
      expect.arrayContaining(['chat:write', 'commands', 'users:read', 'users:read.email', 'usergroups:read', 'im:write']),
    );
    expect(manifest.settings.interactivity.is_enabled).toBe(true);
    expect(manifest.features.slash_commands.map((c: { command: string }) => c.command)).toContain('/countersign');
    expect(manifest.features.app_home.home_tab_enabled).toBe(true);
  });
});
