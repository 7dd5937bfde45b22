// csmap page start-up, loaded as <script type="module" src="/static/js/init.mjs">.
// No inline script is needed: browsers that run ES modules are the ones GOV.UK
// Frontend supports, so the body classes it checks for are added here.
import { initAll } from '/static/build/govuk/govuk-frontend.min.js';

document.body.classList.add('js-enabled', 'govuk-frontend-supported');

initAll();

// <button data-csmap-print> prints the page.
document.addEventListener('click', (event) => {
  const target = event.target instanceof Element ? event.target.closest('button[data-csmap-print]') : null;
  if (target) {
    event.preventDefault();
    window.print();
  }
});
