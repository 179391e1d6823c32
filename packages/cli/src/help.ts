/**
 * `cairn --help`: oclif's help, rendered faster. oclif passes every string it
 * prints (each summary, flag description, list entry and wrapped line)
 * through EJS so that `<%= config.bin %>` works, and EJS compiles each one
 * into a new function: the root help alone compiles more than a hundred. A
 * string without `%` holds no EJS tag and renders to itself, so it is
 * returned as it is; any other string still goes through EJS. The output is
 * the same, byte for byte.
 */
import { CommandHelp, Help, type HelpFormatter } from '@oclif/core/help';

function skipPlainText(formatter: HelpFormatter): void {
  const render = formatter.render;
  formatter.render = (input) => (typeof input === 'string' && !input.includes('%') ? input : render(input));
}

class CairnCommandHelp extends CommandHelp {
  constructor(...args: ConstructorParameters<typeof CommandHelp>) {
    super(...args);
    skipPlainText(this);
  }
}

export default class CairnHelp extends Help {
  protected override CommandHelpClass = CairnCommandHelp;

  constructor(...args: ConstructorParameters<typeof Help>) {
    super(...args);
    skipPlainText(this);
  }
}
