// Accounts on the page: the sign-in and sign-up form, signing out (here or
// because the session ended elsewhere), and changing the password. Loaded
// before app.js, whose state (S) and helpers these functions use when
// called.
'use strict';

let authMode = 'signin';
function setAuthMode(mode) {
  authMode = mode;
  $('mode-signin').classList.toggle('active', mode === 'signin');
  $('mode-signup').classList.toggle('active', mode === 'signup');
  $('f-name-label').hidden = mode !== 'signup';
  $('f-submit').textContent = mode === 'signup' ? 'Create account' : 'Sign in';
  $('f-password').autocomplete = mode === 'signup' ? 'new-password' : 'current-password';
  $('f-error').textContent = '';
}

function showSignIn(message) {
  $('app').hidden = true;
  $('signin').hidden = false;
  $('f-error').textContent = message ? capitalize(message) : '';
  $('f-user').focus();
}

function showApp() {
  $('signin').hidden = true;
  $('app').hidden = false;
}

async function submitAuth(ev) {
  ev.preventDefault();
  const user = $('f-user').value.trim();
  const password = $('f-password').value;
  const body = { user, password };
  if (authMode === 'signup') body.name = $('f-name').value.trim() || user;
  $('f-submit').disabled = true;
  $('f-error').textContent = '';
  try {
    const res = await fetch('/api/' + authMode, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) {
      $('f-error').textContent = capitalize(data.error || `the server answered ${res.status}`);
      return;
    }
    S.token = data.token;
    sessionStorage.setItem('webchat.token', data.token);
    $('f-password').value = '';
    connect();
  } catch {
    $('f-error').textContent = 'The web server cannot be reached.';
  } finally {
    $('f-submit').disabled = false;
  }
}

function resetState() {
  S.closing = true;
  if (S.ws) S.ws.close();
  S.ws = null;
  S.token = null;
  S.user = null;
  S.connected = false;
  S.everReady = false;
  S.rooms.clear();
  S.online.clear();
  S.current = null;
  S.sending.clear();
  S.unknownRooms.clear();
  S.editing = null;
  S.thread = null;
  S.invites.clear();
  $('notice').hidden = true;
  togglePasswd(false);
  document.title = 'redis-chat';
  sessionStorage.removeItem('webchat.token');
  delete document.body.dataset.synced;
  $('app').classList.remove('in-room');
}

function signedOut(message) {
  resetState();
  showSignIn(message);
}

async function signOut() {
  const token = S.token;
  resetState();
  showSignIn('');
  try {
    await fetch('/api/signout', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token }),
    });
  } catch { /* the session ends with the server anyway */ }
}

function togglePasswd(show) {
  $('passwd-form').hidden = !show;
  $('passwd-old').value = '';
  $('passwd-new').value = '';
  if (show) $('passwd-old').focus();
}

async function changePassword(ev) {
  ev.preventDefault();
  try {
    await request('passwd', { old: $('passwd-old').value, new: $('passwd-new').value });
    togglePasswd(false);
    toast('Password changed');
  } catch (e) { toast(e.message); }
}
