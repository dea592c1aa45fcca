/**
 * The Teach page of the browser demo: name 2-10 actions, record a few ~2 s clips of each from the webcam (or add
 * video files), train in a worker, then recognise them live; the work is kept in IndexedDB across reloads and can
 * be downloaded as `.pth` and `.onnx`. A consumer of `temporal-shift/web`'s `actionTeacher`.
 * Query parameters: `model` (base model URL, default `/model.onnx`), `epochs` (training epochs), `seconds` (clip
 * length, default 2), `countdown` (seconds before recording, default 3).
 */
import { type ActionTeacher, type FramePrediction, type OnlineRecognizer, type TeachFrame, type TeachProgress, actionTeacher } from 'temporal-shift/web';
import { startCamera, startFile } from './source.js';
import { clearTeaching, loadTeaching, saveTeaching } from './teach-store.js';
import type { TeachPageState } from './teach-state.js';
import { renderTop5 } from './top5-list.js';

declare global {
  interface Window {
    tsmTeach: TeachPageState;
  }
}

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);
const modelUrl = params.get('model') ?? '/model.onnx';
const epochs = params.has('epochs') ? Number(params.get('epochs')) : undefined;
const clipSeconds = Number(params.get('seconds') ?? 2);
const countdownSeconds = Number(params.get('countdown') ?? 3);
const state: TeachPageState = { status: 'loading', classes: [], clips: {}, trained: false, epochs: [], top: [], liveFrames: 0, saves: 0, camera: false };
window.tsmTeach = state;

let teacher: ActionTeacher | undefined;
let flip = false;
let live: { recognizer: OnlineRecognizer; stop: () => void } | undefined;
let training: AbortController | undefined;

function showError(message: string): void {
  state.error = message;
  const box = $('error');
  box.textContent = message;
  box.hidden = false;
}

function clearError(): void {
  state.error = undefined;
  $('error').hidden = true;
}

const status = (text: string): void => void ($('status').textContent = text);

/** Runs `fn`; an error is shown on the page and the page carries on (nothing recorded is lost). */
async function guarded(what: string, fn: () => Promise<void>): Promise<void> {
  clearError();
  try {
    await fn();
  } catch (err) {
    showError(`${what}: ${(err as Error).message}`);
  }
}

async function save(): Promise<void> {
  if (!teacher) return;
  await saveTeaching({ version: 1, model: modelUrl, flip, snapshot: teacher.snapshot() });
  state.saves++;
}

function renderActions(): void {
  if (!teacher) return;
  const t = teacher;
  state.clips = Object.fromEntries(t.classes.map((c) => [c, t.clips.filter((x) => x.label === c).length]));
  $('actions').replaceChildren(
    ...t.classes.map((label, i) => {
      const li = document.createElement('li');
      const name = document.createElement('strong');
      name.textContent = `${label} (${state.clips[label]})`;
      const rec = document.createElement('button');
      rec.type = 'button';
      rec.className = 'button';
      rec.textContent = 'Record';
      rec.dataset.action = String(i);
      rec.disabled = !state.camera || state.status === 'recording' || state.status === 'training';
      rec.addEventListener('click', () => void guarded(`Recording "${label}"`, () => record(label)));
      const file = document.createElement('label');
      file.className = 'button secondary';
      file.textContent = 'Add video…';
      const input = document.createElement('input');
      input.type = 'file';
      input.accept = 'video/*';
      input.multiple = true;
      input.dataset.action = String(i);
      input.addEventListener('change', () => {
        const files = [...(input.files ?? [])];
        input.value = '';
        void guarded(`Adding a video to "${label}"`, async () => {
          for (const f of files) {
            status(`Decoding ${f.name}…`);
            await t.addClip(label, f);
          }
          await save();
          renderActions();
          status(`Added ${files.length} video${files.length === 1 ? '' : 's'} to "${label}".`);
        });
      });
      file.append(input);
      const clips = document.createElement('div');
      clips.className = 'clips';
      clips.append(
        ...t.clips
          .filter((c) => c.label === label)
          .map((c, k) => {
            const chip = document.createElement('span');
            chip.className = 'clip';
            chip.title = 'remove this clip';
            chip.textContent = `#${k + 1} ${c.frames} frames ×`;
            chip.addEventListener('click', () => {
              t.removeClip(c.id);
              void guarded('Saving', save);
              renderActions();
            });
            return chip;
          }),
      );
      li.append(name, rec, file, clips);
      return li;
    }),
  );
  $<HTMLButtonElement>('download-pth').disabled = !t.trained;
  $<HTMLButtonElement>('download-onnx').disabled = !t.trained;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Counts down, then takes frames from the camera at the teacher's rate for `clipSeconds`, and adds them as a clip. */
async function record(label: string): Promise<void> {
  const t = teacher as ActionTeacher;
  const video = $<HTMLVideoElement>('video');
  state.status = 'recording';
  renderActions();
  const countdown = $('countdown');
  const bar = $('rec-progress');
  const frames: ImageBitmap[] = [];
  try {
    countdown.hidden = false;
    for (let s = countdownSeconds; s > 0; s--) {
      countdown.textContent = String(s);
      await sleep(1000);
    }
    countdown.hidden = true;
    bar.hidden = false;
    const n = Math.max(t.minFrames, Math.round(clipSeconds * t.fps));
    const t0 = performance.now();
    for (let k = 0; k < n; k++) {
      // one frame every 1/fps s of wall time: the rate the recognizer later steps at
      const due = t0 + (k * 1000) / t.fps;
      if (due > performance.now()) await sleep(due - performance.now());
      frames.push(await createImageBitmap(video));
      (bar.firstElementChild as HTMLElement).style.width = `${(100 * (k + 1)) / n}%`;
    }
    await t.addClip(label, frames as TeachFrame[]);
    await save();
    status(`Recorded a clip of "${label}" (${frames.length} frames).`);
  } finally {
    frames.forEach((f) => f.close());
    countdown.hidden = true;
    bar.hidden = true;
    state.status = 'collecting';
    renderActions();
  }
}

function renderPrediction(p: FramePrediction): void {
  state.liveFrames++;
  state.label = p.label;
  state.top = p.top.map((t) => ({ label: t.label, score: t.score }));
  $('label').textContent = p.label;
  renderTop5($('top5'), state.top);
}

/** (Re)starts live recognition with the taught model on the camera (or the video being played). */
async function startLive(): Promise<void> {
  if (!teacher?.trained) return;
  live?.stop();
  await live?.recognizer.dispose();
  live = undefined;
  const recognizer = await teacher.recognizer({ wasmPaths: '/ort/' });
  const stop = recognizer.attach($<HTMLVideoElement>('video'), renderPrediction, { onError: (e) => showError(`Live recognition stopped: ${(e as Error).message}`) });
  live = { recognizer, stop };
  $('live-note').textContent = `${teacher.fps} steps/s`;
}

function renderEpoch(e: Extract<TeachProgress, { status: 'epoch' }>): void {
  state.epochs.push({ epoch: e.epoch, loss: e.loss, accuracy: e.accuracy });
  $('train-bar').style.width = `${(100 * e.epoch) / e.epochs}%`;
  $('train-text').textContent = `epoch ${e.epoch}/${e.epochs} · about ${Math.ceil(e.remainingMs / 1000)} s left`;
  const li = document.createElement('li');
  li.textContent = `loss ${e.loss.toFixed(3)} · accuracy ${(100 * e.accuracy).toFixed(0)}%`;
  $('epochs').append(li);
}

async function train(): Promise<void> {
  const t = teacher as ActionTeacher;
  training = new AbortController();
  state.status = 'training';
  state.epochs = [];
  $('epochs').replaceChildren();
  $('train-progress').hidden = false;
  $('train-bar').style.width = '0%';
  $('train-text').textContent = 'preparing…';
  $<HTMLButtonElement>('train').disabled = true;
  $('cancel').hidden = false;
  renderActions();
  try {
    const r = await t.train({
      epochs,
      signal: training.signal,
      onProgress: (e) => {
        if (e.status === 'prepare') $('train-text').textContent = `preparing clips ${e.done}/${e.total}`;
        else renderEpoch(e);
      },
    });
    state.trained = true;
    await save();
    status(`Trained in ${(r.totalMs / 1000).toFixed(1)} s (${r.history.length} epochs). Do the actions in front of the camera.`);
    await startLive();
  } catch (err) {
    if ((err as Error).name === 'AbortError') status(t.trained ? 'Training cancelled; the previous model is still in use.' : 'Training cancelled.');
    else throw err;
  } finally {
    training = undefined;
    state.status = 'collecting';
    $<HTMLButtonElement>('train').disabled = false;
    $('cancel').hidden = true;
    $('train-progress').hidden = true;
    renderActions();
  }
}

function download(bytes: Uint8Array, name: string): void {
  const url = URL.createObjectURL(new Blob([bytes as BlobPart], { type: 'application/octet-stream' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** Opens a teacher for `classes` (restoring saved clips and weights when given). */
async function begin(classes: string[], restore?: Parameters<typeof actionTeacher>[1]['restore']): Promise<void> {
  status('Loading the base model…');
  const t = await actionTeacher(modelUrl, { classes, restore, training: { augment: { flip } }, wasmPaths: '/ort/' });
  await teacher?.dispose();
  teacher = t;
  state.classes = [...t.classes];
  state.trained = t.trained;
  state.status = 'collecting';
  $('setup').hidden = true;
  $('collect').hidden = false;
  $('backend').textContent = `base: ${t.baseLabels.length} classes`;
  renderActions();
  status(t.trained ? 'Restored your actions and their model.' : `Record a few clips of each action (${t.minFrames} frames at least), then train.`);
  if (t.trained) await startLive();
}

async function main(): Promise<void> {
  $('setup').addEventListener('submit', (e) => {
    e.preventDefault();
    const classes = $<HTMLInputElement>('classes').value.split(',').map((c) => c.trim()).filter((c) => c !== '');
    flip = $<HTMLInputElement>('flip').checked;
    void guarded('Starting', async () => {
      await begin(classes);
      await save();
    });
  });
  $('train').addEventListener('click', () => void guarded('Training', train));
  $('cancel').addEventListener('click', () => training?.abort());
  $('download-pth').addEventListener('click', () => void guarded('Download', async () => download(await (teacher as ActionTeacher).exportPth(), 'taught-online.pth')));
  $('download-onnx').addEventListener('click', () => void guarded('Download', async () => download(await (teacher as ActionTeacher).exportOnnx(), 'taught-online.onnx')));
  $('forget').addEventListener('click', () => void guarded('Starting over', async () => {
    await clearTeaching();
    location.reload();
  }));
  try {
    await startCamera($<HTMLVideoElement>('video'));
    state.camera = true;
  } catch (err) {
    status(`No camera (${(err as Error).message}): add video files to teach, and play one to recognise.`);
  }
  const saved = await loadTeaching().catch(() => undefined);
  if (saved && saved.model === modelUrl) {
    flip = saved.flip;
    $<HTMLInputElement>('classes').value = saved.snapshot.classes.join(', ');
    await guarded('Restoring your saved actions', () => begin([...saved.snapshot.classes], saved.snapshot));
    if (!teacher) state.status = 'setup';
    return;
  }
  state.status = 'setup';
  status('Name the actions to teach.');
}

// a video to recognise when there is no camera: any file dropped on the stage plays there
$('stage').addEventListener('dragover', (e) => e.preventDefault());
$('stage').addEventListener('drop', (e) => {
  e.preventDefault();
  const file = e.dataTransfer?.files[0];
  if (file) void guarded('Playing the video', () => startFile($<HTMLVideoElement>('video'), file));
});

main().catch((err: unknown) => {
  state.status = 'error';
  showError(`Unexpected error: ${(err as Error).stack ?? String(err)}`);
});
