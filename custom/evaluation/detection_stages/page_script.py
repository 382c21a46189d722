"""The page's inline style and script (kept here, not in files next to it, so that the package
needs no data files)."""

STYLE = """
body { font-family: 'WenQuanYi Zen Hei', 'Noto Sans CJK SC', sans-serif; margin: 1.5em auto;
       max-width: 1500px; color: #222; background: #fafafa; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
section { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 0.6em 1em;
          margin-bottom: 1em; }
section img { max-width: 100%; }
p.caption { color: #444; margin: 0.3em 0 0.6em; }
table.counts { border-collapse: collapse; font-size: 0.9em; }
table.counts td, table.counts th { border: 1px solid #ccc; padding: 2px 8px; text-align: right; }
#live-controls label { display: inline-block; min-width: 16em; }
#live-controls input[type=range] { width: 22em; vertical-align: middle; }
#live { display: flex; gap: 1.5em; align-items: flex-start; flex-wrap: wrap; }
#live-canvas { border: 1px solid #999; }
#live table.counts { max-width: 28em; }
nav a { margin-right: 1em; }
pre#kept { display: none; }
"""

# Greedy NMS as torchvision's nms: best score first, a box is dropped when its IoU with a kept
# box of the same class is above the threshold; boxes at or below the score threshold never
# enter (mmdet's multiclass_nms keeps score > score_thr); then the best max_per_img overall.
SCRIPT = r"""
(function () {
  const data = JSON.parse(document.getElementById('candidates').textContent);
  const boxes = data.boxes, scores = data.scores, labels = data.labels;
  const scoreSlider = document.getElementById('score-thr');
  const iouSlider = document.getElementById('iou-thr');
  const canvas = document.getElementById('live-canvas');
  const ctx = canvas.getContext('2d');
  const image = document.getElementById('live-image');
  const palette = data.palette;

  function iou(a, b) {
    const w = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
    const h = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
    const inter = w * h;
    const union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    return union > 0 ? inter / union : 0;
  }

  function classwiseNms(scoreThr, iouThr) {
    const order = [];
    for (let i = 0; i < scores.length; i++) if (scores[i] > scoreThr) order.push(i);
    order.sort((i, j) => scores[j] - scores[i] || i - j);
    const keptByClass = new Map();
    const kept = [];
    for (const i of order) {
      const same = keptByClass.get(labels[i]) || [];
      if (same.every(k => iou(boxes[i], boxes[k]) <= iouThr)) {
        same.push(i);
        keptByClass.set(labels[i], same);
        kept.push(i);
      }
    }
    return {above: order.length, afterNms: kept.length, kept: kept.slice(0, data.max_per_img)};
  }

  function draw(result) {
    const s = data.display_scale;
    ctx.drawImage(image, 0, 0, canvas.width, canvas.height);
    ctx.font = '12px sans-serif';
    for (const i of result.kept.slice().reverse()) {
      const b = boxes[i], colour = palette[labels[i] % palette.length];
      ctx.strokeStyle = colour; ctx.lineWidth = 2;
      ctx.strokeRect(b[0] * s, b[1] * s, (b[2] - b[0]) * s, (b[3] - b[1]) * s);
      const text = data.classes[labels[i]] + ' ' + scores[i].toFixed(2);
      ctx.fillStyle = colour;
      ctx.fillRect(b[0] * s, b[1] * s - 14, ctx.measureText(text).width + 4, 14);
      ctx.fillStyle = '#000'; ctx.fillText(text, b[0] * s + 2, b[1] * s - 3);
    }
  }

  function update() {
    const scoreThr = parseFloat(scoreSlider.value), iouThr = parseFloat(iouSlider.value);
    document.getElementById('score-value').textContent = scoreThr.toFixed(2);
    document.getElementById('iou-value').textContent = iouThr.toFixed(2);
    const result = classwiseNms(scoreThr, iouThr);
    document.getElementById('count-candidates').textContent = scores.length;
    document.getElementById('count-above').textContent = result.above;
    document.getElementById('count-nms').textContent = result.afterNms;
    document.getElementById('count-shown').textContent = result.kept.length;
    const perClass = new Array(data.classes.length).fill(0);
    for (const i of result.kept) perClass[labels[i]] += 1;
    document.getElementById('per-class').textContent = data.classes
      .map((name, c) => perClass[c] ? name + ': ' + perClass[c] : '').filter(t => t).join(', ');
    document.getElementById('kept').textContent = JSON.stringify(
      {score_thr: scoreThr, iou_thr: iouThr, kept: result.kept});
    draw(result);
  }

  scoreSlider.addEventListener('input', update);
  iouSlider.addEventListener('input', update);

  // '#iou=0.3&score=0.2' moves the sliders as a user would (value, then an input event).
  function fromHash() {
    const params = new URLSearchParams(location.hash.slice(1));
    for (const [key, slider] of [['score', scoreSlider], ['iou', iouSlider]]) {
      if (params.has(key)) {
        slider.value = params.get(key);
        slider.dispatchEvent(new Event('input', {bubbles: true}));
      }
    }
  }
  function start() { update(); fromHash(); }
  if (image.complete) start(); else image.addEventListener('load', start);
  window.addEventListener('hashchange', fromHash);
})();
"""
