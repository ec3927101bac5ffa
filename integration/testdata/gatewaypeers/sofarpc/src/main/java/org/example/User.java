package org.example;

import java.io.Serializable;
import java.util.List;
import java.util.Map;

/** A POJO argument and result. */
public class User implements Serializable {
    private long id;
    private String name;
    private int age;
    private boolean active;
    private double score;
    private List<String> tags;
    private Map<String, String> attrs;
    private User friend;

    public long getId() { return id; }
    public void setId(long id) { this.id = id; }
    public String getName() { return name; }
    public void setName(String name) { this.name = name; }
    public int getAge() { return age; }
    public void setAge(int age) { this.age = age; }
    public boolean isActive() { return active; }
    public void setActive(boolean active) { this.active = active; }
    public double getScore() { return score; }
    public void setScore(double score) { this.score = score; }
    public List<String> getTags() { return tags; }
    public void setTags(List<String> tags) { this.tags = tags; }
    public Map<String, String> getAttrs() { return attrs; }
    public void setAttrs(Map<String, String> attrs) { this.attrs = attrs; }
    public User getFriend() { return friend; }
    public void setFriend(User friend) { this.friend = friend; }

    @Override
    public String toString() {
        return "User{id=" + id + ", name=" + name + ", age=" + age + ", active=" + active + ", score=" + score
            + ", tags=" + tags + ", attrs=" + attrs + ", friend=" + friend + "}";
    }
}
