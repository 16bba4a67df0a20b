document.getElementById('app')!.textContent = 'FastTTS Math Tutor';
