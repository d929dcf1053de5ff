import { LogLevel, type Logger as BoltLogger } from '@slack/bolt';
import type { Logger } from 'pino';

const TO_PINO: Record<LogLevel, string> = {
  [LogLevel.DEBUG]: 'debug',
  [LogLevel.INFO]: 'info',
  [LogLevel.WARN]: 'warn',
  [LogLevel.ERROR]: 'error',
};

/** Puts pino behind Bolt's (and the Web API client's) logger interface. */
export function boltLogger(base: Logger): BoltLogger {
  let logger = base.child({ component: 'slack' });
  let level: LogLevel = LogLevel.INFO;
  const write = (method: 'debug' | 'info' | 'warn' | 'error') => (...msg: unknown[]) => {
    const [first, ...rest] = msg;
    if (first instanceof Error) logger[method]({ err: first }, rest.map(String).join(' '));
    else logger[method](msg.map((m) => (typeof m === 'string' ? m : JSON.stringify(m))).join(' '));
  };
  return {
    debug: write('debug'),
    info: write('info'),
    warn: write('warn'),
    error: write('error'),
    setLevel(l: LogLevel) {
      level = l;
      // Bolt's level may only make the pino level stricter, never louder than the product's.
      const wanted = TO_PINO[l];
      if (base.levels.values[wanted]! > base.levels.values[base.level]!) logger.level = wanted;
    },
    getLevel: () => level,
    setName(name: string) {
      logger = base.child({ component: name });
    },
  };
}
