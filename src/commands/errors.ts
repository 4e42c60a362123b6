/**
 * Errors a command can answer with. The text starts with Redis' error code (ERR, NOAUTH, ...), kept
 * apart as `code` so stats (INFO errorstats) and callers can rely on it. Every error text the
 * server sends lives in this file, worded as Redis 7 words it.
 */
export class CommandError extends Error {
  readonly code: string;

  constructor(readonly reply: string) {
    super(reply);
    this.name = 'CommandError';
    const space = reply.indexOf(' ');
    this.code = space < 0 ? reply : reply.slice(0, space);
  }
}

const quote = (b: Buffer | string, max = 128): string => {
  const s = typeof b === 'string' ? b : b.toString('latin1');
  return s.length > max ? s.slice(0, max) : s;
};

export const errors = {
  syntax: () => new CommandError('ERR syntax error'),
  notInteger: () => new CommandError('ERR value is not an integer or out of range'),
  outOfRange: (min: number, max: number) =>
    new CommandError(`ERR value is out of range, value must between ${min} and ${max}`),
  unknownCommand(name: Buffer, rest: Buffer[]): CommandError {
    let args = '';
    for (const a of rest) {
      if (args.length >= 128) break;
      args += `'${quote(a, 128 - args.length)}' `;
    }
    return new CommandError(`ERR unknown command '${quote(name)}', with args beginning with: ${args}`);
  },
  unknownSubcommand: (sub: Buffer, container: string) =>
    new CommandError(`ERR unknown subcommand '${quote(sub)}'. Try ${container.toUpperCase()} HELP.`),
  wrongArity: (fullName: string) => new CommandError(`ERR wrong number of arguments for '${fullName}' command`),
  noAuth: () => new CommandError('NOAUTH Authentication required.'),
  helloNoAuth: () =>
    new CommandError(
      'NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time',
    ),
  wrongPass: () => new CommandError('WRONGPASS invalid username-password pair or user is disabled.'),
  authNotConfigured: () =>
    new CommandError(
      'ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?',
    ),
  noProto: () => new CommandError('NOPROTO unsupported protocol version'),
  protoNotInteger: () => new CommandError('ERR Protocol version is not an integer or out of range'),
  helloOption: (opt: Buffer) => new CommandError(`ERR Syntax error in HELLO option '${quote(opt)}'`),
  subscribedContext: (fullName: string) =>
    new CommandError(
      `ERR Can't execute '${fullName}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context`,
    ),
  dbOutOfRange: () => new CommandError('ERR DB index is out of range'),
  badClientName: () => new CommandError('ERR Client names cannot contain spaces, newlines or special characters.'),
  unrecognizedOption: (opt: Buffer) => new CommandError(`ERR Unrecognized option '${quote(opt)}'`),
  badClientAttr: (attr: Buffer) =>
    new CommandError(`ERR ${quote(attr)} cannot contain spaces, newlines or special characters.`),
  invalidClientId: () => new CommandError('ERR Invalid client ID'),
  clientIdNotPositive: () => new CommandError('ERR client-id should be greater than 0'),
  noSuchClient: () => new CommandError('ERR No such client'),
  clientKillType: (t: Buffer) => new CommandError(`ERR Unknown client type '${quote(t)}'`),
  configSetUnknown: (name: Buffer) =>
    new CommandError(`ERR Unknown option or number of arguments for CONFIG SET - '${quote(name)}'`),
  configSetFailed: (name: string, why: string) =>
    new CommandError(`ERR CONFIG SET failed (possibly related to argument '${name}') - ${why}`),
  configSetDuplicate: (name: string) =>
    new CommandError(`ERR CONFIG SET failed (possibly related to argument '${name}') - duplicate parameter`),
  maxClients: () => new CommandError('ERR max number of clients reached'),
  noShutdown: () => new CommandError('ERR No shutdown in progress.'),
  shutdownFailed: (why: string) => new CommandError(`ERR Errors trying to SHUTDOWN. ${why}`),
  /** Redis refuses writes with MISCONF after an AOF write error; so do we after a state log error. */
  notWritable: (why: string) => new CommandError(`MISCONF Errors writing to the state log: ${why}`),
  badStatusFilter: () => new CommandError('ERR STATUS must be up, down or unknown'),
  unknownOrigin: (id: string) => new CommandError(`ERR no such origin '${quote(id)}'`),
};
