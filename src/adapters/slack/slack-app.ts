import type { RequestListener } from 'node:http';
import { App, HTTPReceiver, LogLevel, SocketModeReceiver } from '@slack/bolt';
import { WebClient } from '@slack/web-api';
import type { Logger } from 'pino';
import type { Config } from '../../config.js';
import { boltLogger } from './bolt-logger.js';
import { guardSlackRequests } from './request-guard.js';

export interface SlackApp {
  app: App;
  /** A Web API client for writes: 429s are surfaced, not waited out (the queue owns backoff). */
  client: WebClient;
  /** Bolt's listener for `/slack/events` in HTTP mode; absent in Socket Mode. */
  httpListener?: RequestListener;
  mode: 'http' | 'socket';
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** `SLACK_API_URL` as the Web API client wants it: ending in a slash. */
export function slackApiUrl(config: Config): string | undefined {
  const url = config.SLACK_API_URL;
  return url === undefined ? undefined : url.endsWith('/') ? url : `${url}/`;
}

/**
 * The Bolt app in HTTP mode (signing secret, `/slack/events` on our own server) or in Socket
 * Mode (when SLACK_APP_TOKEN is set; no public URL needed). Returns undefined when no Slack
 * token is configured.
 */
export async function createSlackApp(config: Config, logger: Logger): Promise<SlackApp | undefined> {
  const token = config.SLACK_BOT_TOKEN;
  if (!token) return undefined;
  const apiUrl = slackApiUrl(config);
  const log = boltLogger(logger);
  const clientOptions = {
    ...(apiUrl ? { slackApiUrl: apiUrl } : {}),
    rejectRateLimitedCalls: true,
    retryConfig: { retries: 2, factor: 2, minTimeout: 200, maxTimeout: 2_000 },
    logger: log,
    logLevel: LogLevel.WARN,
  };
  const client = new WebClient(token, clientOptions);

  if (config.SLACK_APP_TOKEN) {
    const receiver = new SocketModeReceiver({ appToken: config.SLACK_APP_TOKEN, logger: log, logLevel: LogLevel.WARN });
    const app = new App({ token, receiver, logger: log, logLevel: LogLevel.WARN, clientOptions, deferInitialization: true });
    await app.init();
    return {
      app,
      client,
      mode: 'socket',
      start: async () => {
        await app.start();
      },
      stop: () => app.stop() as Promise<void>,
    };
  }

  const receiver = new HTTPReceiver({
    signingSecret: config.SLACK_SIGNING_SECRET ?? '',
    endpoints: '/slack/events',
    logger: log,
    logLevel: LogLevel.WARN,
    processBeforeResponse: false,
    // Bolt's default is 10 MB; Slack's own payloads are far smaller.
    customPropertiesExtractor: () => ({}),
  });
  const app = new App({ token, receiver, logger: log, logLevel: LogLevel.WARN, clientOptions, deferInitialization: true });
  await app.init();
  return {
    app,
    client,
    httpListener: guardSlackRequests(receiver.requestListener, config.SLACK_SIGNING_SECRET ?? '', logger),
    mode: 'http',
    start: async () => {},
    stop: async () => {},
  };
}
