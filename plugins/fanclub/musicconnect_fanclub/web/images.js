// A post's images as the fan club's image pipeline made them: each image has a 400 px "thumb" and
// a 1600 px "full" rendition (extra.images[] of a serialized post, each {url, width, height}).
// They load lazily, the browser picks the rendition from srcset/sizes, and width/height reserve the
// space so nothing jumps when an image arrives.
import { html } from "@musicconnect/web";

// as wide as the app's column (max 46rem) on a large screen, the viewport less the margins on a small one
export const SIZES = "(max-width: 48rem) calc(100vw - 2rem), 46rem";

export function imagesOf(item) {
  const list = item && item.extra && Array.isArray(item.extra.images) ? item.extra.images : [];
  return list.filter((img) => img && img.full && img.full.url);
}

export function srcset(img) {
  return ["thumb", "full"].filter((k) => img[k] && img[k].url && img[k].width)
    .map((k) => `${img[k].url} ${img[k].width}w`).join(", ");
}

export function PostImage({img, alt, sizes = SIZES, className = "post-image"}) {
  const small = img.thumb && img.thumb.url ? img.thumb : img.full;
  return html`<img class=${className} loading="lazy" decoding="async" src=${small.url} srcset=${srcset(img)}
    sizes=${sizes} width=${img.full.width} height=${img.full.height} alt=${alt} />`;
}

export function PostImages({item, sizes}) {
  const list = imagesOf(item);
  if (!list.length) return null;
  return html`<div class="post-images">${list.map((img, i) => html`<${PostImage} key=${i} img=${img} sizes=${sizes}
      alt=${list.length > 1 ? `${item.title}: image ${i + 1} of ${list.length}` : item.title} />`)}</div>`;
}

const STYLE = `.post-images { display: grid; gap: .5rem; margin: .6rem 0; }
.post-images img { max-width: 100%; height: auto; border-radius: .4rem; background: #2d2944; }`;

export function useImageStyle() {
  if (!document.getElementById("mc-fanclub-images-style")) {
    const el = document.createElement("style");
    el.id = "mc-fanclub-images-style";
    el.textContent = STYLE;
    document.head.append(el);
  }
}
