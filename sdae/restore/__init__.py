"""Denoising autoencoders as image restorers (experiments.denoise, experiments.toy2d).

  sdae.restore.run                   a whole run: train, score, write denoise.json / .png
  sdae.restore.config                DenoiseConfig (mode, corruption, model, training), validation
  sdae.restore.models                the dense and convolutional denoisers and their saved config
  sdae.restore.train                 corruption pairs per mode (clean, noise2noise, superres),
                                     losses, fit
  sdae.restore.evaluate              MSE, PSNR, restored test images, evaluate
  sdae.restore.report                classifier accuracies, mean-image baseline, restored.npz,
                                     denoise.png
  sdae.restore.apply                 a trained denoiser saved, loaded and applied to the user's
                                     images (--apply)
  sdae.restore.reference_classifier  the fixed classifier that reads restored digits (cached)
  sdae.restore.toy2d                 the 2-D denoising field

The presets are in sdae.configs.denoise. Import each name from the module that defines it.
"""
