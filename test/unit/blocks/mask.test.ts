import { describe, expect, test } from '@jest/globals';
import { MASK, maskSecrets } from '../../../blocks/mask.js';

describe('maskSecrets', () => {
  // Each case: text with a secret, the secret, and what must survive around it.
  test.each([
    ['AWS access key id', 'export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE', 'AKIAIOSFODNN7EXAMPLE', 'export AWS_ACCESS_KEY_ID='],
    ['AWS secret key assignment', 'aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', 'aws_secret_access_key = '],
    ['GitHub classic token', 'git clone https://x-access-token@github.com/o/r # ghp_16C7e42F292c6912E7710c838347Ae178B4a', 'ghp_16C7e42F292c6912E7710c838347Ae178B4a', 'git clone'],
    ['GitHub OAuth token', 'GH=gho_16C7e42F292c6912E7710c838347Ae178B4a', 'gho_16C7e42F292c6912E7710c838347Ae178B4a', 'GH='],
    ['GitHub fine-grained token', 'github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ', 'github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ', ''],
    ['Slack bot token', 'SLACK=xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOpQrStUv', 'xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOpQrStUv', 'SLACK='],
    ['Stripe live key', "stripe.api_key('sk_live_4eC39HqLyjWDarjtT1zdp7dc')", 'sk_live_4eC39HqLyjWDarjtT1zdp7dc', 'stripe.api_key('],
    ['JWT', 'cookie: session=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0', 'cookie: session='],
    ['PEM private key', 'key: |\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA0Z3VS5JJcds3xfn\n-----END RSA PRIVATE KEY-----\nnext: 1', 'MIIEowIBAAKCAQEA0Z3VS5JJcds3xfn', '-----END RSA PRIVATE KEY-----\nnext: 1'],
    ['password= assignment', 'mysql -u root --password=hunter2 shop', 'hunter2', 'mysql -u root --password='],
    ['quoted password with spaces', 'DB_PASSWORD="correct horse battery"', 'correct horse battery', 'DB_PASSWORD="'],
    ['passwd: in YAML', 'user: app\npasswd: s3cr3t-value\nhost: db', 's3cr3t-value', 'host: db'],
    ['secret= assignment', 'client_secret=abcdef123456', 'abcdef123456', 'client_secret='],
    ['token= in a query string', 'https://api.example.com/v1?token=abc123def456&page=2', 'abc123def456', '&page=2'],
    ['api_key in JSON', '{\n  "api_key": "AIzaSyD-123456789abcdef",\n  "region": "eu"\n}', 'AIzaSyD-123456789abcdef', '"region": "eu"'],
    ['basic auth in a URL', 'psql postgres://admin:Pa55w0rd@db.internal:5432/shop', 'Pa55w0rd', 'postgres://admin:'],
    ['Bearer header', 'curl -H "Authorization: Bearer abcdef0123456789abcdef" https://x', 'abcdef0123456789abcdef', 'curl -H "Authorization: Bearer '],
    ['bare Bearer token', 'header Bearer 9f8e7d6c5b4a39281706f5e4 sent', '9f8e7d6c5b4a39281706f5e4', ' sent'],
  ])('masks a %s', (_name, text, secret, kept) => {
    const result = maskSecrets(text);
    expect(result.text).not.toContain(secret);
    expect(result.text).toContain(MASK);
    expect(result.text).toContain(kept);
    expect(result.masked).toBeGreaterThanOrEqual(1);
  });

  test('counts each secret once', () => {
    const text = 'a=AKIAIOSFODNN7EXAMPLE\nAuthorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlX2hlcmU\npassword=x1';
    expect(maskSecrets(text).masked).toBe(3);
  });

  test.each([
    ['IAM action names', '"Action": ["secretsmanager:RotateSecret", "secretsmanager:DescribeSecret"]'],
    ['an ARN with "secret" in it', '"Resource": "arn:aws:secretsmanager:eu-west-1:111122223333:secret:prod/*"'],
    ['an environment reference', 'migrate -database postgres://app@db --password=$SHOP_DB_PASSWORD'],
    ['a terraform reference', 'password = var.db_password'],
    ['prose about tokens', 'Bearer tokens are rotated daily; the secret is kept in Vault.'],
    ['a plain URL with a port', 'https://db.internal:5432/shop'],
    ['a token count', '{ "max_tokens": 4096, "token_budget": 12.5 }'],
  ])('leaves %s alone', (_name, text) => {
    expect(maskSecrets(text)).toEqual({ text, masked: 0 });
  });

  test('a private key inside a JSON string is one secret, its markers kept', () => {
    const result = maskSecrets('"private_key": "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBg\\n-----END PRIVATE KEY-----\\n"');
    expect(result).toEqual({ text: `"private_key": "-----BEGIN PRIVATE KEY-----${MASK}-----END PRIVATE KEY-----\\n"`, masked: 1 });
  });

  test('an unterminated private key is masked to the end', () => {
    const result = maskSecrets('-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAA');
    expect(result.text).toBe(`-----BEGIN OPENSSH PRIVATE KEY-----${MASK}`);
  });

  // Not a speed target: a pattern that backtracks catastrophically never finishes on 512 KB of
  // such input, so finishing at all (within Jest's generous timeout) is what this checks.
  test('finishes on adversarial input (512 KB): no catastrophic backtracking', () => {
    const inputs = ['a.'.repeat(256 * 1024), 'token='.repeat(87_000), '"password": "'.repeat(40_000), 'eyJ'.repeat(170_000), 'Bearer 1'.repeat(65_000)];
    for (const input of inputs) expect(maskSecrets(input).text.length).toBeGreaterThan(0);
  }, 60_000);
});
