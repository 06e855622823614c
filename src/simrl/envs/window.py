"""The ``human`` render mode: a pygame window that shows RGB frames at an env's real rate."""

from __future__ import annotations

from typing import Any

import numpy as np


class Window:
    """Opens on the first frame; ``close`` shuts pygame's display. pygame is imported here only."""

    def __init__(self, title: str, fps: float) -> None:
        self.title, self.fps = title, fps
        self._surface: Any = None
        self._clock: Any = None

    @property
    def is_open(self) -> bool:
        return self._surface is not None

    def show(self, frame: np.ndarray) -> None:
        """Show an ``H x W x 3`` uint8 frame, then wait for the frame's turn at ``fps``."""
        import pygame

        if self._surface is None:
            pygame.display.init()
            pygame.display.set_caption(self.title)
            self._surface = pygame.display.set_mode(frame.shape[1::-1])
            self._clock = pygame.time.Clock()
        self._surface.blit(pygame.surfarray.make_surface(frame.swapaxes(0, 1)), (0, 0))
        pygame.event.pump()
        pygame.display.flip()
        self._clock.tick(self.fps)

    def close(self) -> None:
        if self._surface is not None:
            import pygame

            pygame.display.quit()
            self._surface = None
