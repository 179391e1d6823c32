import { Flags } from '@oclif/core';
import { CairnCommand, jsonFlag } from '../lib/base';

export default class Doctor extends CairnCommand {
  static override summary = "Score the project's MLOps level (0, 1, 2) and say what to add next";
  static override description =
    "Checks the practices of Google's MLOps levels against the project's real files, pipelines and run history: level 1 is an automated, tracked pipeline; level 2 adds CI/CD, deployment, A/B tests and drift-triggered retraining.";
  static override examples = [
    '<%= config.bin %> doctor',
    '<%= config.bin %> doctor --env team     # judge the run history of the team stack (e.g. PostgreSQL)',
    '<%= config.bin %> doctor --json',
  ];
  static override flags = {
    json: jsonFlag,
    env: Flags.string({
      char: 'e',
      description: 'Stack environment whose run history and registry are judged',
      default: 'local',
    }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Doctor);
    const { requireProjectDir } = await import('../lib/project');
    const { diagnose } = await import('../lib/doctor');
    const report = await diagnose(await requireProjectDir(flags.project), flags.env);
    if (flags.json) return this.printJson(report);
    const pc = (await import('picocolors')).default;
    for (const level of [1, 2] as const) {
      this.log(pc.bold(level === 1 ? 'Level 1 — automated, tracked pipeline' : 'Level 2 — CI/CD automation'));
      for (const p of report.practices.filter((x) => x.level === level)) {
        this.log(`  ${p.ok ? pc.green('✓') : pc.red('✗')} ${p.title}: ${p.detail}`);
        if (!p.ok && p.fix) this.log(pc.dim(`      → ${p.fix}`));
      }
    }
    const passed = report.practices.filter((p) => p.ok).length;
    this.log(`\nMLOps level ${report.level} (${passed}/${report.practices.length} practices)`);
  }
}
