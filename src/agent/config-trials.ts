import type { ConfigEntry, ConfigMeta, Trial } from './config-store.js';
import type { ConfigState, ConfirmRequest, PushRequest, VersionRef } from '../protocol/v1.js';
import { WireError } from '../protocol/wire-errors.js';
import { formatDuration } from '../spec/duration.js';

/**
 * Configs on trial: a push with `trialMs` installs a config the drone reverts by itself unless the
 * rollout that pushed it confirms it in time. What a trial is, how it reads on the wire, what a confirm
 * finds and what a revert leaves; the agent does the writing.
 */

/** The trial a push asks for at `now`; null without `trialMs`. */
export function trialOf(request: PushRequest, now: number): Trial | null {
  if (request.trialMs === undefined) return null;
  return { rollout: request.rollout, fence: request.fence, until: now + request.trialMs, ms: request.trialMs };
}

/** The trial as answers show it: whose, and how long until the drone reverts it (0 once due). */
export function trialView(trial: Trial | null, now: number): Pick<ConfigState, 'trial'> {
  return trial === null ? {} : { trial: { rollout: trial.rollout, expiresInMs: Math.max(0, trial.until - now) } };
}

/** `trial` while on trial, `reverted` after the drone reverted one by itself; neither otherwise. */
export function trialFields(meta: ConfigMeta, now: number): Pick<ConfigState, 'trial' | 'reverted'> {
  const { reverted } = meta;
  return {
    ...trialView(meta.trial, now),
    ...(reverted === null
      ? {}
      : {
          reverted: {
            version: reverted.version,
            sha256: reverted.sha256,
            rollout: reverted.rollout,
            at: reverted.at,
          },
        }),
  };
}

/** The earliest trial deadline among `entries` (only those after `after`); undefined when there is none. */
export function nextTrialDeadline(entries: Iterable<[string, ConfigEntry]>, after = -Infinity): number | undefined {
  let next: number | undefined;
  for (const [, { meta }] of entries) {
    const until = meta.trial?.until;
    if (until !== undefined && until > after && (next === undefined || until < next)) next = until;
  }
  return next;
}

/** The files whose trial is due at `now`, earliest deadline first. */
export function dueTrials(entries: Iterable<[string, ConfigEntry]>, now: number): string[] {
  const due: [string, number][] = [];
  for (const [file, { meta }] of entries)
    if (meta.trial !== null && meta.trial.until <= now) due.push([file, meta.trial.until]);
  return due.sort((a, b) => a[1] - b[1]).map(([file]) => file);
}

/**
 * The metadata once the drone has reverted `meta`'s trial by itself at `at`: the previous version back,
 * as a rollback by the trial's rollout restores it, and the reverted trial remembered. The fence bar
 * stays: the drone accepted no new write.
 */
export function revertedMeta(meta: ConfigMeta, trial: Trial, at: number): ConfigMeta {
  return {
    current: meta.previous,
    installedBy: { rollout: trial.rollout, fence: trial.fence, action: 'auto_revert' },
    previous: null,
    highestFence: meta.highestFence,
    fenceOwner: meta.fenceOwner,
    retired: meta.retired,
    trial: null,
    reverted: meta.current === null ? null : { ...meta.current, rollout: trial.rollout, at, trialMs: trial.ms },
  };
}

/**
 * What a confirm finds: `confirm` (its trial: clear it), `kept` (that config, on no trial: already
 * confirmed, or never a trial), or the 409 that says why not: `trial_reverted` when the drone reverted that
 * trial by itself, `config_changed` when it runs something else, or that config on another rollout's trial.
 */
export function judgeConfirm(
  droneId: string,
  file: string,
  meta: ConfigMeta | undefined,
  request: ConfirmRequest,
): { readonly action: 'confirm' | 'kept'; readonly current: VersionRef } {
  const sha256 = request.sha256.toLowerCase();
  const current = meta?.current ?? null;
  if (current?.sha256 === sha256) {
    const trial = meta?.trial ?? null;
    if (trial === null) return { action: 'kept', current };
    if (trial.rollout === request.rollout) return { action: 'confirm', current };
    throw configChanged(
      file,
      meta,
      `${droneId} cannot confirm ${file} for rollout ${request.rollout}: ${current.version} is on trial by rollout ${trial.rollout}, and only the rollout that pushed a trial confirms it`,
    );
  }
  const reverted = meta?.reverted ?? null;
  if (reverted?.sha256 === sha256 && reverted.rollout === request.rollout) {
    const to = current?.version ?? null;
    throw new WireError(
      'trial_reverted',
      `${droneId} reverted ${file} to ${to ?? 'no file'} by itself at ${new Date(reverted.at).toISOString()}: the trial of ${reverted.version} was not confirmed within ${formatDuration(reverted.trialMs)}`,
      { lead: { file, version: to }, tail: { at: reverted.at } },
    );
  }
  const runs = current === null ? `it has no ${file} now` : `it runs ${current.version} (sha256 ${current.sha256}) now`;
  throw configChanged(file, meta, `${droneId} cannot confirm ${file} at sha256 ${sha256}: ${runs}`);
}

function configChanged(file: string, meta: ConfigMeta | undefined, message: string): WireError {
  const current = meta?.current ?? null;
  return new WireError('config_changed', message, {
    lead: { file, version: current?.version ?? null, sha256: current?.sha256 ?? null },
  });
}
