"""2-D physics tasks on pymunk: a cart-pole, a biped that must stand, a biped balancing on a ball."""
