"""Support code for the tests (not tests themselves): imported as ``support.<module>``.

- :mod:`.convert_fixtures`: StyleGAN2 weight files in the real rosinality / NVIDIA layouts;
- :mod:`.hub_server`: a loopback Hugging Face Hub for the Hub tests;
- :mod:`.reference_picnet`, :mod:`.reference_stylegan2`: straightforward ports the models are
  checked against (``tests/test_reference_stylegan2.py`` checks the StyleGAN2 port itself).

pytest puts ``tests/`` on ``sys.path`` (``tests/conftest.py`` and the test files are not in a
package), so ``from support.hub_server import FakeHub`` works in every test file.
"""
