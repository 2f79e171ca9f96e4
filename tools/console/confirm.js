// The confirmation of destructive actions: the page's own <dialog> (not
// window.confirm, which tests cannot click and which blocks the page), with
// Cancel and Confirm and, for ending a meeting, an optional reason.

let open = false;
let wired = false;

function wire(dialog, reasonInput) {
  if (wired) return;
  wired = true;
  // Enter in the reason field confirms (the form's implicit submission
  // would press its first button, Cancel).
  reasonInput.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      dialog.close('ok');
    }
  });
}

/**
 * Asks; resolves {ok: true, reason} on Confirm, {ok: false} on Cancel or
 * Escape. One question at a time: a second call while one is open says no.
 */
export function confirmAction({title, message, confirmLabel = 'Confirm', askReason = false}) {
  const dialog = document.getElementById('confirm');
  if (open || !dialog) return Promise.resolve({ok: false});
  open = true;
  document.getElementById('confirm-title').textContent = title;
  document.getElementById('confirm-message').textContent = message;
  const okButton = document.getElementById('confirm-ok');
  okButton.textContent = confirmLabel;
  const reasonRow = document.getElementById('confirm-reason-row');
  const reasonInput = document.getElementById('confirm-reason');
  wire(dialog, reasonInput);
  reasonRow.hidden = !askReason;
  reasonInput.value = '';
  dialog.returnValue = '';
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      open = false;
      if (dialog.returnValue === 'ok') resolve({ok: true, reason: askReason ? reasonInput.value.trim() : ''});
      else resolve({ok: false});
    }, {once: true});
    dialog.showModal();
    (askReason ? reasonInput : document.getElementById('confirm-cancel')).focus();
  });
}
